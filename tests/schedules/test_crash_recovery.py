"""A schedule stop or start whose worker dies mid-way is finished by the next holder of the environment.

The worker is "killed" by injected resource types (the real ones, over the Databricks stand-in) that
raise a ``BaseException`` at the second change and on every call after it, as a SIGKILL leaves nothing
running: the action's own code after that point never runs (no outcome recorded, no restore set).
Before the fix the cluster stopped before the crash was in no restore set, so the next start left it
stopped for good. Now the action writes a write-ahead record (the activity, ``in_progress``, with
every change it is about to make and the restore set it plans) before changing anything; the next
stop or start of the environment finishes it (recovery *finishes*, it does not undo: the schedule
wanted that state) and records its final status, then does its own work.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from devhost.standins.databricks import DatabricksStandIn
from shared.audit import AuditLedger
from shared.schedules.control import KIND
from shared.schedules.resources import Resource, ResourceType, resource_types
from shared.schedules.targets import EnvironmentTargets
from tests.schedules.conftest import MakeControl
from tests.schedules.test_databricks_compute import env_for, settled, states, wait_until


class WorkerKilled(BaseException):
    """What the running code sees of a SIGKILL: nothing after it runs."""


class Dying:
    """Wraps a real resource type: the ``kill_at``-th change (counted over all types) kills the worker."""

    def __init__(self, real: ResourceType, counter: dict[str, int], dead: threading.Event, kill_at: int) -> None:
        self.real, self.counter, self.dead, self.kill_at = real, counter, dead, kill_at
        self.name = real.name

    def list(self) -> list[Resource]:
        return self.real.list()

    def _change(self, fn: Any, r: Resource) -> None:
        if self.dead.is_set():
            raise WorkerKilled()
        self.counter["n"] += 1
        if self.counter["n"] >= self.kill_at:
            self.dead.set()
            raise WorkerKilled()
        fn(r)

    def stop(self, r: Resource) -> None:
        self._change(self.real.stop, r)

    def start(self, r: Resource) -> None:
        self._change(self.real.start, r)


def dying_registry(kill_at: int) -> Any:
    counter, dead = {"n": 0}, threading.Event()
    registry = resource_types
    for name in ("clusters", "warehouses", "jobs"):
        real_factory = resource_types.get(name)

        def factory(targets: EnvironmentTargets, real_factory: Any = real_factory) -> Dying | None:
            real = real_factory(targets)
            return None if real is None else Dying(real, counter, dead, kill_at)

        registry = registry.replacing(name, factory)
    return registry


@pytest.fixture
def seeded(databricks_standin: DatabricksStandIn) -> DatabricksStandIn:
    d = databricks_standin
    d.add_cluster("analyst")
    d.add_cluster("etl-interactive")
    d.add_cluster("idle", state="TERMINATED")
    d.add_warehouse("bi")
    d.add_job("nightly-load")
    d.add_job("paused-before", pause_status="PAUSED")
    return d


BEFORE = {"analyst": "RUNNING", "etl-interactive": "RUNNING", "idle": "TERMINATED", "bi": "RUNNING",
          "nightly-load": "UNPAUSED", "paused-before": "PAUSED"}


def test_a_stop_killed_mid_way_is_finished_by_the_next_run_and_the_start_restores_everything(
        seeded: DatabricksStandIn, make_control: MakeControl, ledger: AuditLedger, clock: Any) -> None:
    env = env_for(seeded)
    assert states(seeded) == BEFORE
    with pytest.raises(WorkerKilled):
        make_control(env, seeded.settings(), max_parallel=1, registry=dying_registry(kill_at=2)).run(
            "stop", actor="schedule", trigger="schedule")
    wait_until(lambda: settled(seeded))
    half = states(seeded)
    assert half["analyst"] == "TERMINATED" and half["etl-interactive"] == "RUNNING"  # killed mid-way
    crashed = ledger.list_activity("dev", kind=KIND["stop"], limit=1).items
    assert crashed and crashed[0].status == "in_progress"  # the write-ahead record
    assert sorted(c["name"] for c in crashed[0].data["intent"]) == ["analyst", "bi", "etl-interactive",
                                                                    "nightly-load"]

    clock.advance(60)
    again = make_control(env, seeded.settings()).run("stop", actor="schedule", trigger="schedule")
    assert again.status == "succeeded"
    wait_until(lambda: settled(seeded))
    stopped = states(seeded)
    assert stopped == {**BEFORE, "analyst": "TERMINATED", "etl-interactive": "TERMINATED", "bi": "STOPPED",
                       "nightly-load": "PAUSED"}
    finished = ledger.get_activity(crashed[0].id)
    assert finished.status == "succeeded" and finished.data["recovered_by"]
    assert sorted(o["name"] for o in finished.data["outcomes"] if o["status"] == "succeeded") == \
        ["analyst", "bi", "etl-interactive", "nightly-load"]

    clock.advance(3600)
    start = make_control(env, seeded.settings()).run("start", actor="schedule", trigger="schedule")
    assert start.status == "succeeded", start.to_json()
    wait_until(lambda: settled(seeded))
    assert states(seeded) == BEFORE  # the cluster stopped before the crash is back too


def test_a_start_killed_mid_way_is_finished_by_the_next_start(
        seeded: DatabricksStandIn, make_control: MakeControl, ledger: AuditLedger, clock: Any) -> None:
    env = env_for(seeded)
    assert make_control(env, seeded.settings()).run("stop").status == "succeeded"
    wait_until(lambda: settled(seeded))
    clock.advance(3600)
    with pytest.raises(WorkerKilled):
        make_control(env, seeded.settings(), max_parallel=1, registry=dying_registry(kill_at=3)).run(
            "start", actor="schedule", trigger="schedule")
    wait_until(lambda: settled(seeded))
    assert states(seeded) != BEFORE
    crashed = ledger.list_activity("dev", kind=KIND["start"], limit=1).items
    assert crashed and crashed[0].status == "in_progress"

    clock.advance(60)
    again = make_control(env, seeded.settings()).run("start", actor="schedule", trigger="schedule")
    assert again.status == "succeeded", again.to_json()
    wait_until(lambda: settled(seeded))
    assert states(seeded) == BEFORE
    finished = ledger.get_activity(crashed[0].id)
    assert finished.status == "succeeded" and finished.data["recovered_by"]
    assert finished.data["remaining"] == []
