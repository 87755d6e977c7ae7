"""Changes made by hand while an environment is stopped: visible in GET /api/environments/{env}, recorded
as drift activities by the next start."""

from __future__ import annotations

import time
from typing import Any

from shared.audit import AuditLedger
from shared.clock import FakeClock

from .test_http import Client, client, platform, trigger_body

__all__ = ["client", "platform"]  # the fixtures


def test_a_stop_and_the_next_start_record_what_changed_by_hand_in_between(
        platform: Any, client: Client, clock: FakeClock, ledger: AuditLedger) -> None:
    arm, dbx, f = platform
    status, body = client.call("POST", "environments/dev/stop")
    assert status == 200 and body["status"] == "succeeded"
    stop_id = body["activity_id"]
    deadline = time.monotonic() + 10  # the stand-in's cluster settles TERMINATING -> TERMINATED
    while dbx.compute.list_clusters()[0]["state"] != "TERMINATED":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    status, body = client.call("GET", "environments/dev")
    assert status == 200 and body["drift"]["since_stop"] == stop_id and body["drift"]["changes"] == []

    # By hand, while stopped: start a trigger the stop stopped, stop an excluded one, delete one,
    # create one, start the cluster.
    from shared.adf.client import FactoryClient

    portal = FactoryClient(arm.target(f), arm.settings())
    portal.start_trigger("daily")
    portal.stop_trigger("kept")
    portal.delete_object("trigger", "hourly")
    arm.put_object(f, "triggers", "adhoc", trigger_body(), runtime_state="Started")
    dbx.compute.start_cluster(dbx.compute.list_clusters()[0]["cluster_id"])
    expected = {("adf_triggers", "adhoc", "created"), ("adf_triggers", "daily", "started"),
                ("adf_triggers", "hourly", "deleted"), ("adf_triggers", "kept", "stopped"),
                ("clusters", "etl", "started")}

    status, body = client.call("GET", "environments/dev")
    assert {(c["type"], c["name"], c["change"]) for c in body["drift"]["changes"]} == expected
    daily = next(c for c in body["drift"]["changes"] if c["name"] == "daily")
    assert daily["state_at_stop"] == "stopped by schedule" and daily["state_now"] == "Started"

    clock.advance(3600)
    status, body = client.call("POST", "environments/dev/start")
    assert status == 200, body
    start = ledger.get_activity(body["activity_id"])
    assert {(c["type"], c["name"], c["change"]) for c in start.data["drift"]} == expected
    recorded = [a for a in ledger.iter_activity("dev") if a.kind == "drift"]
    assert {(a.data["type"], a.data["name"], a.status) for a in recorded} == expected
    assert all(a.data["stop"] == stop_id and a.data["start"] == start.id for a in recorded)
    assert all(a.data["component"] == "schedules" for a in recorded)

    status, body = client.call("GET", "environments/dev")
    assert body["drift"]["since_stop"] is None and body["drift"]["changes"] == []
    assert {(r["type"], r["name"], r["change"]) for r in body["drift"]["recorded"]} == expected
