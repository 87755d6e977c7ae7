"""The environments HTTP API over the ARM and Databricks stand-ins: status, stop/start, trigger toggles, 404s."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from devhost.standins.databricks import DatabricksStandIn
from shared.app import AppContext, set_current
from shared.audit import AuditLedger
from shared.clock import FakeClock
from shared.config import Environment, PlatformConfig, Repository, Schedule
from shared.settings import Settings
from shared.storage import StorageAccount
from tests.fixtures.arm import ArmStandInHandle
from tests.fixtures.host import keyed
from tests.fixtures.identity import AUTH_ON, signed_in

PIPELINE = {"activities": [{"name": "wait", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1}}]}


def trigger_body(annotations: list[str] | None = None) -> dict[str, Any]:
    return {"type": "ScheduleTrigger", "annotations": annotations or [],
            "typeProperties": {"recurrence": {"frequency": "Day", "interval": 1,
                                              "startTime": "2026-01-01T00:00:00Z", "timeZone": "UTC"}},
            "pipelines": [{"pipelineReference": {"referenceName": "load", "type": "PipelineReference"}}]}


@pytest.fixture
def platform(arm_standin: ArmStandInHandle, arm_factory_name: str, databricks_standin: DatabricksStandIn,
             storage: StorageAccount, clock: FakeClock) -> Iterator[Any]:
    arm, dbx, f = arm_standin, databricks_standin, arm_factory_name
    arm.create_factory(f)
    arm.put_object(f, "pipelines", "load", PIPELINE)
    for name, state, notes in [("daily", "Started", []), ("hourly", "Started", []), ("off", "Stopped", []),
                               ("critical-feed", "Started", []),
                               ("kept", "Started", ["dataops:keep-running"])]:
        arm.put_object(f, "triggers", name, trigger_body(notes), runtime_state=state)
    dbx.add_cluster("etl")
    schedule = Schedule(time_zone="Europe/London", stop="0 0 19 * * 1-5", start="0 0 7 * * 1-5",
                        exclude=["name:critical-*", "tag:dataops:keep-running"])
    config = PlatformConfig(repository=Repository(url="https://github.com/contoso/data-platform"),
                            environments={"dev": Environment(data_factory=arm.target(f), databricks=dbx.target(),
                                                             schedule=schedule)})
    settings = Settings({**arm.settings().environ, **dbx.settings().environ, **AUTH_ON})
    set_current(AppContext(settings=settings, clock=clock, _config=config, _storage=storage))
    try:
        yield arm, dbx, f
    finally:
        set_current(None)


class Client:
    def __init__(self) -> None:
        from devhost.host import FunctionHost
        from function_app import app

        self.host = FunctionHost(app)

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
             ) -> tuple[int, Any]:
        data = b"" if body is None else json.dumps(body).encode()
        who = headers if headers is not None else signed_in("ops@contoso.example")
        status, _, out = self.host.dispatch(method, f"http://localhost/api/{path}",
                                            keyed(self.host, {"Content-Type": "application/json", **who}), data)
        return status, json.loads(out)


@pytest.fixture(scope="module")
def client() -> Client:
    return Client()


def trigger_states(arm: ArmStandInHandle, f: str) -> dict[str, str]:
    return {n: arm.trigger_state(f, n) for n in arm.names(f, "triggers")}


def test_stop_start_round_trip_over_http_restores_exactly_the_prior_state(
        platform: Any, client: Client, clock: FakeClock, ledger: AuditLedger) -> None:
    arm, dbx, f = platform
    before = trigger_states(arm, f)
    status, body = client.call("POST", "environments/dev/stop?dry_run=true")
    assert status == 200 and body["dry_run"] is True
    assert sorted(c["name"] for c in body["plan"]["changes"]) == ["daily", "etl", "hourly"]
    assert trigger_states(arm, f) == before  # dry run changed nothing

    status, body = client.call("POST", "environments/dev/stop", {"reason": "cost saving"},
                               signed_in("alice@contoso.com"))
    assert status == 200 and body["status"] == "succeeded"
    after_stop = trigger_states(arm, f)
    assert after_stop["daily"] == after_stop["hourly"] == "Stopped"
    assert after_stop["critical-feed"] == after_stop["kept"] == "Started"
    record = ledger.get_activity(body["activity_id"])
    assert record.actor == "alice@contoso.com" and record.data["reason"] == "cost saving"
    assert {o["name"]: o["status"] for o in record.data["outcomes"]} == {
        "daily": "succeeded", "hourly": "succeeded", "etl": "succeeded"}

    status, body = client.call("GET", "environments/dev")
    assert status == 200
    assert sorted(e["name"] for e in body["stopped"]["pending_restore"]) == ["daily", "etl", "hourly"]
    assert {t["name"]: t["state"] for t in body["resources"]["adf_triggers"]}["daily"] == "Stopped"
    assert body["schedule"]["next"]["stop"] is not None

    deadline = time.monotonic() + 10  # the stand-in's cluster settles TERMINATING -> TERMINATED
    while dbx.compute.list_clusters()[0]["state"] != "TERMINATED":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    clock.advance(600)
    status, body = client.call("POST", "environments/dev/start", {"reason": "morning"})
    assert status == 200 and body["status"] == "succeeded"
    assert sorted(o["name"] for o in body["outcomes"]) == ["daily", "etl", "hourly"]
    assert trigger_states(arm, f) == before  # "off" was stopped before and stays stopped


def test_toggle_one_trigger_is_recorded_with_its_actor(platform: Any, client: Client, ledger: AuditLedger) -> None:
    arm, _, f = platform
    status, body = client.call("POST", "environments/dev/adf/triggers/daily/stop?dry_run=true")
    assert status == 200 and body["plan"]["changes"][0]["name"] == "daily"
    assert arm.trigger_state(f, "daily") == "Started"
    status, body = client.call("POST", "environments/dev/adf/triggers/daily/stop", {"actor": "mallory", "reason": "x"},
                               signed_in("bob@contoso.example"))
    assert status == 200 and body["status"] == "succeeded"
    assert arm.trigger_state(f, "daily") == "Stopped"
    rec = ledger.get_activity(body["activity_id"])
    assert (rec.kind, rec.actor, rec.data["trigger"], rec.data["state_before"]) == (
        "trigger_toggle", "bob@contoso.example", "daily", "Started")
    status, body = client.call("POST", "environments/dev/adf/triggers/off/stop")
    assert status == 200 and body["plan"]["left_alone"][0]["reason"] == "already Stopped"


def test_unknown_environment_or_trigger_is_a_404_with_a_message(platform: Any, client: Client) -> None:
    arm, _, f = platform
    for method, path in [("GET", "environments/nope"), ("POST", "environments/nope/stop"),
                         ("POST", "environments/nope/adf/triggers/daily/start")]:
        status, body = client.call(method, path)
        assert status == 404 and body["error"] == "unknown_environment" and "nope" in body["message"]
    status, body = client.call("POST", "environments/dev/adf/triggers/ghost/start")
    assert status == 404 and body["error"] == "unknown_trigger" and "ghost" in body["message"]
    status, body = client.call("POST", "environments/dev/stop?dry_run=maybe")
    assert status == 400 and body["error"] == "invalid_parameter"
    assert trigger_states(arm, f)["daily"] == "Started"
