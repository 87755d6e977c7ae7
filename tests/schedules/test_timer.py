"""The schedule timer: claims, catch-up once, concurrent runs acting once, skip dates, retries."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from typing import Any

import pytest

from devhost.standins.databricks import DatabricksStandIn
from shared.audit import AuditLedger
from shared.clock import FakeClock
from shared.config import Environment, PlatformConfig, Repository, Schedule
from shared.schedules.timer import ScheduleTimer
from shared.storage import StorageAccount


def config_for(dbx: DatabricksStandIn, **schedule: Any) -> PlatformConfig:
    sched = Schedule(time_zone="Europe/London", stop="0 0 19 * * 1-5", start="0 0 7 * * 1-5",
                     resources=["clusters", "warehouses", "jobs"], **schedule)
    return PlatformConfig(repository=Repository(url="https://github.com/contoso/data-platform"),
                          environments={"dev": Environment(databricks=dbx.target(), schedule=sched),
                                        "prod": Environment()})


@pytest.fixture
def dbx(databricks_standin: DatabricksStandIn) -> DatabricksStandIn:
    databricks_standin.add_cluster("etl")
    databricks_standin.add_warehouse("bi")
    databricks_standin.add_job("nightly")
    return databricks_standin


def timer(config: PlatformConfig, dbx: DatabricksStandIn, storage: StorageAccount, ledger: AuditLedger,
          clock: FakeClock, **kw: Any) -> ScheduleTimer:
    return ScheduleTimer(config, settings=dbx.settings(), storage=storage, ledger=ledger, clock=clock,
                         **{"lock_timeout": 5.0, **kw})


def activities(ledger: AuditLedger) -> list[tuple[str, str | None]]:
    return [(a.kind, a.status) for a in ledger.iter_activity("dev")]


def cluster_state(dbx: DatabricksStandIn) -> str:
    return str(dbx.compute.list_clusters()[0]["state"])


def test_a_due_stop_runs_once_and_a_missed_tick_is_caught_up_once(
        dbx: DatabricksStandIn, storage: StorageAccount, ledger: AuditLedger, clock: FakeClock) -> None:
    t = timer(config_for(dbx), dbx, storage, ledger, clock)
    clock.set(datetime(2026, 1, 5, 18, 58, 30, tzinfo=UTC))  # Monday, GMT
    assert t.run_once().acted == []
    clock.set(datetime(2026, 1, 5, 19, 3, 0, tzinfo=UTC))  # four ticks missed, the 19:00 stop among them
    report = t.run_once()
    assert [(a["environment"], a["action"], a["status"]) for a in report.acted] == [("dev", "stop", "succeeded")]
    assert report.acted[0]["key"] == "dev/stop/20260105T190000Z"
    assert cluster_state(dbx) in ("TERMINATING", "TERMINATED")
    clock.advance(60)
    assert t.run_once().acted == []
    assert activities(ledger) == [("environment_stop", "succeeded")]
    stop = next(iter(ledger.iter_activity("dev")))
    assert stop.actor == "schedule" and stop.data["trigger"] == "schedule"
    assert stop.data["scheduled_local"].startswith("2026-01-05T19:00:00")


def test_a_night_long_outage_runs_only_the_latest_action(
        dbx: DatabricksStandIn, storage: StorageAccount, ledger: AuditLedger, clock: FakeClock) -> None:
    t = timer(config_for(dbx), dbx, storage, ledger, clock)
    t.advance_cursor(datetime(2026, 1, 5, 18, 0, tzinfo=UTC))
    clock.set(datetime(2026, 1, 6, 7, 30, tzinfo=UTC))
    report = t.run_once()
    assert [(a["action"]) for a in report.acted] == ["start"]
    assert report.superseded == ["dev/stop/20260105T190000Z"]
    assert activities(ledger) == [("environment_start", "succeeded")]
    assert cluster_state(dbx) == "RUNNING"  # never stopped: nothing to restore


def test_two_timer_runs_at_once_act_once(
        dbx: DatabricksStandIn, storage: StorageAccount, ledger: AuditLedger, clock: FakeClock) -> None:
    config = config_for(dbx)
    runs = [timer(config, dbx, storage, ledger, clock) for _ in range(2)]
    runs[0].advance_cursor(datetime(2026, 1, 5, 18, 59, tzinfo=UTC))
    clock.set(datetime(2026, 1, 5, 19, 0, 5, tzinfo=UTC))
    barrier = threading.Barrier(2)
    reports: list[Any] = [None, None]

    def go(i: int) -> None:
        barrier.wait()
        reports[i] = runs[i].run_once()

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert sorted(len(r.acted) for r in reports) == [0, 1]
    assert sorted(len(r.claimed_elsewhere) for r in reports) == [0, 1]
    assert activities(ledger) == [("environment_stop", "succeeded")]
    assert dbx.counters.count("clusters.delete") == 1


def test_skip_dates_are_honoured(dbx: DatabricksStandIn, storage: StorageAccount, ledger: AuditLedger,
                                 clock: FakeClock) -> None:
    t = timer(config_for(dbx, skip_dates=[date(2026, 12, 25)]), dbx, storage, ledger, clock)
    t.advance_cursor(datetime(2026, 12, 25, 18, 59, tzinfo=UTC))
    clock.set(datetime(2026, 12, 25, 19, 1, tzinfo=UTC))
    report = t.run_once()
    assert report.acted == [] and report.skipped == ["dev/stop/20261225T190000Z"]
    assert activities(ledger) == [] and cluster_state(dbx) == "RUNNING"


def test_a_partial_stop_is_retried_on_the_next_tick(
        dbx: DatabricksStandIn, storage: StorageAccount, ledger: AuditLedger, clock: FakeClock) -> None:
    dbx.faults.add("warehouses", fail_when=lambda r: r.method == "POST", fail_status=500)
    t = timer(config_for(dbx), dbx, storage, ledger, clock)
    t.advance_cursor(datetime(2026, 1, 5, 18, 59, tzinfo=UTC))
    clock.set(datetime(2026, 1, 5, 19, 0, 10, tzinfo=UTC))
    assert [a["status"] for a in t.run_once().acted] == ["partial"]
    dbx.faults.clear()
    clock.advance(60)
    retry = t.run_once()
    assert [(a["key"], a["status"]) for a in retry.acted] == [("dev/stop/20260105T190000Z/retry-2", "succeeded")]
    assert dbx.compute.list_warehouses()[0]["state"] in ("STOPPING", "STOPPED")
    clock.advance(60)
    assert t.run_once().acted == []  # nothing left to retry


def test_a_deployment_holding_the_lock_defers_the_action_to_a_later_tick(
        dbx: DatabricksStandIn, storage: StorageAccount, ledger: AuditLedger, clock: FakeClock) -> None:
    from shared.deploy.lock import LeaseLock

    t = timer(config_for(dbx), dbx, storage, ledger, clock, lock_timeout=0.3)
    t.advance_cursor(datetime(2026, 1, 5, 18, 59, tzinfo=UTC))
    clock.set(datetime(2026, 1, 5, 19, 0, 10, tzinfo=UTC))
    lock = LeaseLock(storage, "dev", "adf", duration=15)
    assert lock.try_acquire("deployment 7")
    try:
        report = t.run_once()
        assert report.acted == [] and report.failed[0]["key"] == "dev/stop/20260105T190000Z"
        assert cluster_state(dbx) == "RUNNING"
    finally:
        lock.release()
    clock.advance(60)
    report = t.run_once()
    assert [a["key"] for a in report.acted] == ["dev/stop/20260105T190000Z"]
