"""Stop and start of Databricks compute (clusters, warehouses, job schedules) against the stand-in."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from devhost.standins.databricks import DatabricksStandIn
from shared.config import Environment, Schedule
from shared.deploy.lock import LeaseLock, LockBusy
from shared.storage import StorageAccount
from tests import polling
from tests.schedules.conftest import MakeControl


def wait_until(predicate: Any, timeout: float = 5.0) -> None:
    polling.wait_until(predicate, timeout, interval=0.02)


def env_for(dbx: DatabricksStandIn, **schedule: Any) -> Environment:
    return Environment(databricks=dbx.target(),
                       schedule=Schedule(resources=["clusters", "warehouses", "jobs"], **schedule))


def states(dbx: DatabricksStandIn) -> dict[str, str]:
    c = dbx.compute
    out = {x["cluster_name"]: x["state"] for x in c.list_clusters()}
    out.update({x["name"]: x["state"] for x in c.list_warehouses()})
    out.update({j["settings"]["name"]: j["settings"]["schedule"]["pause_status"] for j in c.list_jobs()})
    return out


def settled(dbx: DatabricksStandIn) -> bool:
    return not set(states(dbx).values()) & {"PENDING", "TERMINATING", "STARTING", "STOPPING", "RESTARTING"}


@pytest.fixture
def seeded(databricks_standin: DatabricksStandIn) -> DatabricksStandIn:
    d = databricks_standin
    d.add_cluster("etl-interactive")
    d.add_cluster("analyst", cluster_source="API")
    d.add_cluster("job-run-42", cluster_source="JOB")
    d.add_cluster("critical-stream")
    d.add_cluster("kept", custom_tags={"dataops:keep-running": "true"})
    d.add_cluster("idle", state="TERMINATED")
    d.add_warehouse("bi")
    d.add_warehouse("reporting", tags={"team": "finance"})
    d.add_warehouse("cold", state="STOPPED")
    d.add_job("nightly-load")
    d.add_job("paused-before", pause_status="PAUSED")
    return d


def test_stop_changes_only_running_interactive_and_not_excluded(seeded: DatabricksStandIn,
                                                               make_control: MakeControl) -> None:
    env = env_for(seeded, exclude=["name:critical-*", "tag:dataops:keep-running", "tag:team=finance"])
    result = make_control(env, seeded.settings()).run("stop", actor="alice", reason="cost")
    assert result.status == "succeeded"
    wait_until(lambda: settled(seeded))
    s = states(seeded)
    assert s["etl-interactive"] == s["analyst"] == "TERMINATED"
    assert s["job-run-42"] == s["critical-stream"] == s["kept"] == "RUNNING"
    assert s["bi"] == "STOPPED" and s["reporting"] == "RUNNING"
    assert s["nightly-load"] == "PAUSED"
    reasons = {x.name: x.reason for x in result.plan.left_alone}
    assert reasons["job-run-42"] == "job cluster"
    assert reasons["critical-stream"] == "excluded by name:critical-*"
    assert reasons["kept"] == "excluded by tag:dataops:keep-running"
    assert reasons["reporting"] == "excluded by tag:team=finance"
    assert sorted(e.name for e in result.restore) == ["analyst", "bi", "etl-interactive", "nightly-load"]


def test_stop_then_start_restores_exactly_the_prior_state(seeded: DatabricksStandIn, make_control: MakeControl,
                                                          clock: Any, ledger: Any) -> None:
    control = make_control(env_for(seeded), seeded.settings())
    wait_until(lambda: settled(seeded))
    before = states(seeded)
    stop = control.run("stop", actor="alice", reason="night")
    wait_until(lambda: settled(seeded))
    assert states(seeded)["nightly-load"] == "PAUSED"
    clock.advance(3600)
    start = control.run("start", actor="bob", reason="morning")
    assert start.status == "succeeded" and start.remaining == []
    wait_until(lambda: settled(seeded))
    after = states(seeded)
    assert after == before  # job cluster still running, idle still terminated, paused job still paused
    assert {o.name for o in start.outcomes} == {e.name for e in stop.restore}
    stop_rec = ledger.get_activity(stop.activity_id)
    assert stop_rec.kind == "environment_stop" and stop_rec.actor == "alice"
    assert stop_rec.data["reason"] == "night"
    assert {o["name"]: o["status"] for o in stop_rec.data["outcomes"]}["etl-interactive"] == "succeeded"
    start_rec = ledger.get_activity(start.activity_id)
    assert start_rec.data["restores"] == stop.activity_id and start_rec.status == "succeeded"
    # A second start has nothing left to restore.
    clock.advance(60)
    again = control.run("start")
    assert again.plan.changes == () and again.status == "succeeded"


def test_dry_run_changes_and_records_nothing(seeded: DatabricksStandIn, make_control: MakeControl,
                                             ledger: Any) -> None:
    wait_until(lambda: settled(seeded))
    before = states(seeded)
    result = make_control(env_for(seeded), seeded.settings()).run("stop", dry_run=True)
    assert result.dry_run and len(result.plan.changes) == 7 and result.outcomes == []
    assert states(seeded) == before
    assert list(ledger.iter_activity("dev")) == []


def test_partial_failure_is_reported_retried_and_restored_later(seeded: DatabricksStandIn,
                                                               make_control: MakeControl, clock: Any) -> None:
    wid = next(w["id"] for w in seeded.compute.list_warehouses() if w["name"] == "bi")
    seeded.faults.add("warehouses", fail_when=lambda r: wid in r.path and r.method == "POST", fail_status=500)
    control = make_control(env_for(seeded), seeded.settings(), attempts=3)
    first = control.run("stop")
    assert first.status == "partial"
    failed = first.failed
    assert [(o.name, o.attempts) for o in failed] == [("bi", 3)] and failed[0].error
    assert states(seeded)["bi"] == "RUNNING"
    # The next stop (the timer's retry) stops what was missed and keeps what the first one stopped.
    seeded.faults.clear()
    clock.advance(60)
    second = make_control(env_for(seeded), seeded.settings()).run("stop")
    assert second.status == "succeeded" and [c.resource.name for c in second.plan.changes] == ["bi"]
    assert sorted(e.name for e in second.restore) == ["analyst", "bi", "critical-stream", "etl-interactive",
                                                      "kept", "nightly-load", "reporting"]
    wait_until(lambda: settled(seeded))
    clock.advance(60)
    start = make_control(env_for(seeded), seeded.settings()).run("start")
    assert start.status == "succeeded"
    wait_until(lambda: settled(seeded))
    assert states(seeded)["bi"] == "RUNNING" and states(seeded)["etl-interactive"] == "RUNNING"


def test_waits_for_a_running_deployment(seeded: DatabricksStandIn, make_control: MakeControl,
                                        storage: StorageAccount) -> None:
    deployment = LeaseLock(storage, "dev", "notebooks", duration=15)
    assert deployment.try_acquire("deployment 123")
    try:
        with pytest.raises(LockBusy) as err:
            make_control(env_for(seeded), seeded.settings(), lock_timeout=0.5).run("stop")
        assert err.value.kind == "conflict" and "deployment 123" in err.value.message
        assert states(seeded)["etl-interactive"] == "RUNNING"  # nothing changed
        done: dict[str, Any] = {}
        worker = threading.Thread(target=lambda: done.setdefault(
            "result", make_control(env_for(seeded), seeded.settings(), lock_timeout=30).run("stop")))
        worker.start()
        worker.join(timeout=1.0)  # bounded: it must still be waiting for the deployment
        assert worker.is_alive() and "result" not in done
        assert states(seeded)["etl-interactive"] == "RUNNING"
    finally:
        deployment.release()
    worker.join(timeout=30)
    assert done["result"].status == "succeeded"
    assert states(seeded)["etl-interactive"] in ("TERMINATING", "TERMINATED")


def test_continuous_and_file_arrival_jobs_are_paused_and_restored(databricks_standin: DatabricksStandIn,
                                                                  make_control: MakeControl) -> None:
    d = databricks_standin
    arrival = {"file_arrival": {"url": "abfss://landing@lake.dfs.core.windows.net/orders/",
                                "min_time_between_triggers_seconds": 60}, "pause_status": "UNPAUSED"}
    d.add_job("stream", continuous={"pause_status": "UNPAUSED"})
    d.add_job("continuous-default", continuous={})  # pause_status absent: unpaused
    d.add_job("on-arrival", trigger=arrival)
    d.add_job("on-update", trigger={"table_update": {"table_names": ["main.sales.orders"]}})
    d.add_job("paused-stream", continuous={"pause_status": "PAUSED"})
    d.add_job("nightly")

    def pauses() -> dict[str, str | None]:
        out = {}
        for j in d.compute.list_jobs():
            s = j["settings"]
            holder = next(s[f] for f in ("schedule", "continuous", "trigger") if f in s)
            out[s["name"]] = holder.get("pause_status")
        return out

    control = make_control(env_for(d), d.settings())
    stop = control.run("stop")
    assert stop.status == "succeeded"
    assert set(pauses().values()) == {"PAUSED"}
    assert sorted(e.name for e in stop.restore) == ["continuous-default", "nightly", "on-arrival", "on-update",
                                                    "stream"]
    kinds = {r.name: r.kind for r in control.types()["jobs"].list()}
    assert kinds["stream"] == "continuous" and kinds["on-arrival"] == "trigger" and kinds["nightly"] == "schedule"
    # jobs/update replaces the whole field: the file-arrival configuration must survive the round trip.
    on_arrival = next(j for j in d.compute.list_jobs() if j["settings"]["name"] == "on-arrival")
    assert on_arrival["settings"]["trigger"] == {**arrival, "pause_status": "PAUSED"}
    start = control.run("start")
    assert start.status == "succeeded" and start.remaining == []
    assert pauses() == {"stream": "UNPAUSED", "continuous-default": "UNPAUSED", "on-arrival": "UNPAUSED",
                        "on-update": "UNPAUSED", "paused-stream": "PAUSED", "nightly": "UNPAUSED"}


def test_standin_jobs_follow_the_api_rules_for_schedule_continuous_and_trigger(
        databricks_standin: DatabricksStandIn) -> None:
    from databricks.sdk.errors import InvalidParameterValue
    from databricks.sdk.service.jobs import Continuous, JobSettings, PauseStatus

    w = databricks_standin.client()
    jid = databricks_standin.add_job("nightly")
    with pytest.raises(InvalidParameterValue, match="Only one of schedule, continuous and trigger"):
        w.jobs.update(job_id=jid, new_settings=JobSettings(continuous=Continuous(pause_status=PauseStatus.UNPAUSED)))
    with pytest.raises(InvalidParameterValue):
        w.api_client.do("POST", "/api/2.2/jobs/update",
                        body={"job_id": jid, "new_settings": {"schedule": {
                            "quartz_cron_expression": "0 0 6 * * ?", "pause_status": "SLEEPING"}}})
    with pytest.raises(InvalidParameterValue, match="exactly one of file_arrival"):
        w.api_client.do("POST", "/api/2.2/jobs/reset", body={"job_id": jid, "new_settings": {
            "name": "x", "trigger": {"pause_status": "PAUSED"}}})
    # Replacing the schedule by a continuous setting in one update is allowed (fields_to_remove first).
    w.jobs.update(job_id=jid, fields_to_remove=["schedule"],
                  new_settings=JobSettings(continuous=Continuous(pause_status=PauseStatus.PAUSED)))
    settings = w.jobs.get(job_id=jid).settings
    assert settings is not None and settings.schedule is None and settings.continuous is not None
