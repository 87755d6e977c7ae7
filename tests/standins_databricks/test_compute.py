"""Contract tests: clusters, SQL warehouses and jobs of the stand-in, driven by databricks-sdk."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from databricks.sdk.errors import NotFound
from databricks.sdk.errors.platform import BadRequest
from databricks.sdk.service.compute import ClusterSource, State
from databricks.sdk.service.jobs import CronSchedule, JobSettings, PauseStatus
from databricks.sdk.service.sql import State as WarehouseState

from devhost.standins.databricks import DatabricksStandIn


def eventually(check: Callable[[], bool], deadline_s: float = 5.0) -> None:
    """Poll ``check`` until it holds or the deadline passes (no fixed sleeps)."""
    end = time.monotonic() + deadline_s
    while not check():
        if time.monotonic() > end:
            raise AssertionError("condition not met before the deadline")
        time.sleep(0.02)


def test_cluster_start_only_from_terminated_and_states_move(databricks_standin: DatabricksStandIn) -> None:
    w = databricks_standin.client()
    cid = databricks_standin.add_cluster("etl", state="TERMINATED", custom_tags={"env": "dev"})
    running = databricks_standin.add_cluster("shared", state="RUNNING")
    w.clusters.start(cid)
    assert w.clusters.get(cid).state == State.PENDING
    eventually(lambda: w.clusters.get(cid).state == State.RUNNING)
    with pytest.raises(BadRequest) as err:
        w.clusters.start(running)
    assert err.value.error_code == "INVALID_STATE"
    w.clusters.delete(cid)
    assert w.clusters.get(cid).state == State.TERMINATING
    eventually(lambda: w.clusters.get(cid).state == State.TERMINATED)
    details = w.clusters.get(cid)
    assert details.custom_tags == {"env": "dev"}
    assert details.termination_reason is not None
    w.clusters.delete(cid)  # terminating a terminated cluster is a no-op
    assert databricks_standin.counters.count("clusters.start") == 2


def test_cluster_list_sources_and_unknown_id(databricks_standin: DatabricksStandIn) -> None:
    w = databricks_standin.client()
    databricks_standin.add_cluster("ui", cluster_source="UI")
    job = databricks_standin.add_cluster("job-run", cluster_source="JOB", state="TERMINATED")
    sources = {c.cluster_name: c.cluster_source for c in w.clusters.list()}
    assert sources == {"ui": ClusterSource.UI, "job-run": ClusterSource.JOB}
    with pytest.raises(BadRequest):
        w.clusters.start(job)
    # The real API answers 400 INVALID_PARAMETER_VALUE; the SDK's override maps it to NotFound.
    with pytest.raises(NotFound, match="does not exist"):
        w.clusters.get("0000-missing")


def test_sdk_waiter_sees_cluster_running(databricks_standin: DatabricksStandIn) -> None:
    w = databricks_standin.client()
    cid = databricks_standin.add_cluster("waited", state="TERMINATED")
    details = w.clusters.start(cid).result()
    assert details.state == State.RUNNING


def test_warehouse_start_stop(databricks_standin: DatabricksStandIn) -> None:
    w = databricks_standin.client()
    wid = databricks_standin.add_warehouse("bi", state="STOPPED", tags={"env": "dev"})
    w.warehouses.start(wid)
    assert w.warehouses.get(wid).state == WarehouseState.STARTING
    eventually(lambda: w.warehouses.get(wid).state == WarehouseState.RUNNING)
    w.warehouses.start(wid)  # idempotent
    w.warehouses.stop(wid)
    assert w.warehouses.get(wid).state == WarehouseState.STOPPING
    eventually(lambda: w.warehouses.get(wid).state == WarehouseState.STOPPED)
    listed = list(w.warehouses.list())
    assert [(x.id, x.name) for x in listed] == [(wid, "bi")]
    tags = listed[0].tags
    assert tags is not None and [(t.key, t.value) for t in tags.custom_tags or []] == [("env", "dev")]
    with pytest.raises(NotFound):
        w.warehouses.get("nope")


def test_jobs_update_replaces_top_level_fields_and_pauses(databricks_standin: DatabricksStandIn) -> None:
    w = databricks_standin.client()
    jid = databricks_standin.add_job("nightly", tags={"env": "dev"}, quartz_cron_expression="0 0 2 * * ?")
    other = databricks_standin.add_job("unscheduled", pause_status=None)
    job = w.jobs.get(jid)
    assert job.settings and job.settings.schedule and job.settings.schedule.pause_status == PauseStatus.UNPAUSED
    w.jobs.update(jid, new_settings=JobSettings(schedule=CronSchedule(
        quartz_cron_expression="0 0 2 * * ?", timezone_id="UTC", pause_status=PauseStatus.PAUSED)))
    settings = w.jobs.get(jid).settings
    assert settings and settings.schedule and settings.schedule.pause_status == PauseStatus.PAUSED
    assert settings.tags == {"env": "dev"} and settings.tasks  # untouched fields stay
    # A top-level field is replaced whole, not merged.
    w.jobs.update(jid, new_settings=JobSettings(tags={"team": "data"}))
    assert (w.jobs.get(jid).settings or JobSettings()).tags == {"team": "data"}
    listed = {j.job_id: j for j in w.jobs.list()}
    assert set(listed) == {jid, other}
    assert (listed[other].settings or JobSettings()).schedule is None
    w.jobs.reset(jid, new_settings=JobSettings(name="renamed"))
    reset = w.jobs.get(jid).settings
    assert reset and reset.name == "renamed" and reset.schedule is None
    with pytest.raises(NotFound):
        w.jobs.get(999999)
