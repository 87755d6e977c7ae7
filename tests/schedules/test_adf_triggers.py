"""Schedule stop/start of ADF triggers against the ARM stand-in: tumbling window dependency waves."""

from __future__ import annotations

from typing import Any

from shared.config import Environment, Schedule
from tests.adf.helpers import tumbling_trigger
from tests.fixtures.arm import ArmStandInHandle
from tests.schedules.conftest import MakeControl

PIPELINE = {"activities": [{"name": "wait", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1}}]}


def seed_tumbling(arm: ArmStandInHandle, f: str) -> None:
    arm.create_factory(f)
    arm.put_object(f, "pipelines", "pl_child", PIPELINE)
    for name, deps in [("tw_a", []), ("tw_b", ["tw_a"]), ("tw_c", ["tw_b"]), ("tw_x", [])]:
        body = tumbling_trigger("pl_child", depends_on=deps)
        body.pop("runtimeState")
        arm.put_object(f, "triggers", name, body, runtime_state="Started")


def test_schedule_start_starts_tumbling_triggers_in_dependency_waves(
        arm_standin: ArmStandInHandle, arm_factory_name: str, make_control: MakeControl) -> None:
    arm, f = arm_standin, arm_factory_name
    seed_tumbling(arm, f)
    env = Environment(data_factory=arm.target(f), schedule=Schedule(resources=["adf_triggers"]))
    control = make_control(env, arm.settings())
    stop = control.run("stop")
    assert stop.status == "succeeded" and {arm.trigger_state(f, n) for n in ("tw_a", "tw_b", "tw_c")} == {"Stopped"}
    # For every start of a dependent trigger, record the state of what it depends on at that moment;
    # the starts of tw_a and tw_b are slowed so that one parallel wave would reach tw_c first.
    seen: dict[str, list[str]] = {"tw_b": [], "tw_c": []}

    def watcher(dependent: str, dependency: str) -> Any:
        def watch(request: Any) -> bool:
            seen[dependent].append(arm.trigger_state(f, dependency))
            return False  # observe only
        return watch

    arm.faults.add(r"/triggers/tw_b/start", fail_when=watcher("tw_b", "tw_a"))
    arm.faults.add(r"/triggers/tw_c/start", fail_when=watcher("tw_c", "tw_b"))
    arm.faults.add(r"/triggers/tw_a/start", latency_s=0.3)
    arm.faults.add(r"/triggers/tw_b/start", latency_s=0.3)
    start = control.run("start")
    assert start.status == "succeeded", start.to_json()
    assert seen == {"tw_b": ["Started"], "tw_c": ["Started"]}
    assert {arm.trigger_state(f, n) for n in ("tw_a", "tw_b", "tw_c", "tw_x")} == {"Started"}


def test_a_failed_dependency_leaves_its_dependents_to_the_next_start(
        arm_standin: ArmStandInHandle, arm_factory_name: str, make_control: MakeControl) -> None:
    arm, f = arm_standin, arm_factory_name
    seed_tumbling(arm, f)
    env = Environment(data_factory=arm.target(f), schedule=Schedule(resources=["adf_triggers"]))
    control = make_control(env, arm.settings(), attempts=1)
    control.run("stop")
    arm.faults.add(r"/triggers/tw_a/start", fail_when=lambda request: True, fail_status=500)
    start = control.run("start")
    assert start.status == "partial"
    outcome = {o.name: (o.status, o.error or "") for o in start.outcomes}
    assert outcome["tw_x"][0] == "succeeded" and outcome["tw_a"][0] == "failed"
    assert outcome["tw_b"][0] == outcome["tw_c"][0] == "failed" and "earlier wave" in outcome["tw_c"][1]
    assert arm.trigger_state(f, "tw_b") == arm.trigger_state(f, "tw_c") == "Stopped"
    assert sorted(e.name for e in start.remaining) == ["tw_a", "tw_b", "tw_c"]
    arm.faults.clear()
    again = make_control(env, arm.settings()).run("start")
    assert again.status == "succeeded" and {o.name for o in again.outcomes} == {"tw_a", "tw_b", "tw_c"}
