"""State, not events: the timer converges to the latest due action however long it was down."""

from __future__ import annotations

from datetime import UTC, datetime

from devhost.standins.databricks import DatabricksStandIn
from shared.audit import AuditLedger
from shared.clock import FakeClock
from shared.storage import StorageAccount

from ..standins_databricks.test_compute import eventually
from .test_timer import activities, cluster_state, config_for, dbx, timer

__all__ = ["dbx"]  # the fixture


def test_a_friday_stop_missed_by_a_26_hour_outage_still_stops_the_environment(
        dbx: DatabricksStandIn, storage: StorageAccount, ledger: AuditLedger, clock: FakeClock) -> None:
    t = timer(config_for(dbx), dbx, storage, ledger, clock)
    t.advance_cursor(datetime(2026, 1, 9, 18, 59, tzinfo=UTC))  # Friday 18:59 GMT, then down
    clock.set(datetime(2026, 1, 10, 21, 0, tzinfo=UTC))  # Saturday 21:00: 26 h later
    report = t.run_once(starting=False)
    assert [(a["key"], a["status"]) for a in report.acted] == [("dev/stop/20260109T190000Z", "succeeded")]
    assert cluster_state(dbx) in ("TERMINATING", "TERMINATED")
    stop = next(iter(ledger.iter_activity("dev")))
    assert stop.data["catch_up"] == {"reason": "missed", "late_by_s": 26 * 3600,
                                     "since": "2026-01-09T18:59:00+00:00"}
    # A week-long outage over two weekends: still one action, the latest (Friday's stop again).
    clock.set(datetime(2026, 1, 17, 12, 0, tzinfo=UTC))
    report = t.run_once(starting=False)
    assert [a["key"] for a in report.acted] == ["dev/stop/20260116T190000Z"]
    assert "dev/start/20260116T070000Z" in report.superseded


def test_an_on_time_action_is_not_a_catch_up(
        dbx: DatabricksStandIn, storage: StorageAccount, ledger: AuditLedger, clock: FakeClock) -> None:
    t = timer(config_for(dbx), dbx, storage, ledger, clock)
    t.advance_cursor(datetime(2026, 1, 9, 18, 59, tzinfo=UTC))
    clock.set(datetime(2026, 1, 9, 19, 0, 20, tzinfo=UTC))
    assert len(t.run_once(starting=False).acted) == 1
    assert "catch_up" not in next(iter(ledger.iter_activity("dev"))).data


def test_enforce_on_start_applies_the_scheduled_state_once_per_deployment(
        dbx: DatabricksStandIn, storage: StorageAccount, ledger: AuditLedger, clock: FakeClock) -> None:
    config = config_for(dbx, enforce_on_start=True)
    t = timer(config, dbx, storage, ledger, clock)
    t.advance_cursor(datetime(2026, 1, 5, 18, 59, tzinfo=UTC))
    clock.set(datetime(2026, 1, 5, 19, 0, 5, tzinfo=UTC))
    assert [a["action"] for a in t.run_once(starting=False).acted] == ["stop"]
    # Overnight something starts the cluster again (say a deployment), then the app is deployed.
    clock.set(datetime(2026, 1, 5, 22, 0, tzinfo=UTC))
    eventually(lambda: cluster_state(dbx) == "TERMINATED")
    dbx.compute.start_cluster(dbx.compute.list_clusters()[0]["cluster_id"])
    assert cluster_state(dbx) in ("PENDING", "RUNNING")
    report = timer(config, dbx, storage, ledger, clock).run_once(starting=True)
    assert [(a["action"], a["status"]) for a in report.acted] == [("stop", "succeeded")]
    assert report.acted[0]["key"].startswith("dev/stop/20260105T190000Z/enforce-")
    assert cluster_state(dbx) in ("TERMINATING", "TERMINATED")
    enforced = next(iter(ledger.iter_activity("dev")))
    assert enforced.data["catch_up"]["reason"] == "enforce_on_start"
    assert enforced.data["catch_up"]["late_by_s"] == 3 * 3600
    # A restart of the same build (or another instance) does not redo it.
    clock.advance(60)
    again = timer(config, dbx, storage, ledger, clock).run_once(starting=True)
    assert again.acted == [] and again.claimed_elsewhere == [report.acted[0]["key"]]
    assert [k for k, _ in activities(ledger)] == ["environment_stop", "environment_stop"]
    # Without the option a start of the app changes nothing.
    plain = config_for(dbx)
    clock.advance(60)
    assert timer(plain, dbx, storage, ledger, clock).run_once(starting=True).acted == []
