"""An ADF deployment while the environment is stopped by its schedule leaves the triggers stopped and
adds them to what the next start restores (ARM stand-in, real deployer)."""

from __future__ import annotations

from typing import Any

from shared.audit import AuditLedger
from shared.clock import FakeClock
from shared.config import Environment, PlatformConfig, Repository, Schedule
from shared.deploy.components import COMPONENTS
from shared.deploy.model import DeployContext
from tests.adf.helpers import base_resources, res, schedule_trigger, snapshot_of, template
from tests.fixtures.arm import ArmStandInHandle
from tests.schedules.conftest import MakeControl

SECRET = "sv=2024&sig=held"
PIPE = ["[concat(variables('factoryId'), '/pipelines/pl_parent')]"]


def resources(changed: bool) -> list[dict[str, Any]]:
    out = [r for r in base_resources() if not (changed and r["name"].endswith("/tr_daily')]"))]
    keep = schedule_trigger("pl_parent", 3 if changed else 2)
    keep["annotations"] = ["dataops:keep-running"]
    out.append(res("triggers", "tr_keep", keep, PIPE))
    if changed:
        out.append(res("triggers", "tr_daily", schedule_trigger("pl_parent", 12), PIPE))
        out.append(res("triggers", "tr_new", schedule_trigger("pl_parent", 6), PIPE))
    return out


def test_deploying_while_stopped_by_schedule_keeps_triggers_stopped_until_the_start(
        arm_standin: ArmStandInHandle, arm_factory_name: str, ledger: AuditLedger, clock: FakeClock,
        make_control: MakeControl) -> None:
    arm, f = arm_standin, arm_factory_name
    arm.create_factory(f)
    target = arm.target(f, parameters={"ls_blob_sasToken": SECRET})
    env = Environment(data_factory=target, schedule=Schedule(resources=["adf_triggers"],
                                                             exclude=["tag:dataops:keep-running"]))
    config = PlatformConfig(repository=Repository(url="https://github.com/o/r"), environments={"dev": env})
    deployer = COMPONENTS.deployer("adf")

    def deploy(sha: str, changed: bool) -> tuple[Any, Any]:
        ctx = DeployContext(config=config, environment="dev", snapshot=snapshot_of(template(resources(changed)), sha),
                            settings=arm.settings(), clock=clock, ledger=ledger, deployment_id=f"dep-{sha[:6]}")
        plan = deployer.plan(ctx)
        return plan, deployer.apply(ctx, plan)

    _, first = deploy("1" * 40, changed=False)
    assert first.status == "succeeded", first.error
    states = lambda: {n: arm.trigger_state(f, n) for n in arm.names(f, "triggers")}  # noqa: E731
    assert states() == {"tr_daily": "Started", "tr_hourly": "Started", "tr_keep": "Started", "tr_paused": "Stopped"}

    control = make_control(env, arm.settings())
    clock.advance(60)
    stop = control.run("stop", actor="schedule", trigger="schedule")
    assert stop.status == "succeeded"
    assert states()["tr_daily"] == states()["tr_hourly"] == "Stopped" and states()["tr_keep"] == "Started"

    clock.advance(3600)  # at night: a deployment changes tr_daily, adds tr_new, changes the excluded tr_keep
    plan, result = deploy("2" * 40, changed=True)
    assert result.status == "succeeded", result.error
    held = {a.name for a in plan.actions if a.action == "hold"}
    assert held == {"tr_daily", "tr_hourly", "tr_new"}
    assert not {a.name for a in plan.actions if a.action == "start"} & held
    assert any("stopped by its schedule" in w for w in plan.warnings)
    assert plan.data["schedule_hold"]["stop"] == stop.activity_id
    assert states() == {"tr_daily": "Stopped", "tr_hourly": "Stopped", "tr_keep": "Started", "tr_new": "Stopped",
                        "tr_paused": "Stopped"}
    added = [a for a in ledger.iter_activity("dev") if a.kind == "restore_added"]
    assert len(added) == 1 and added[0].deployment_id == "dep-222222"
    assert sorted(e["name"] for e in added[0].data["add"]) == ["tr_daily", "tr_hourly", "tr_new"]

    created = [c for c in control.drift_since_stop(control.observe()[0])[1] if c.change == "created"]
    assert [(c.name, c.by) for c in created] == [("tr_new", "deployment dep-222222")]

    clock.advance(3600)  # the morning start brings back what the stop stopped and what the deployment held
    start = control.run("start", actor="schedule", trigger="schedule")
    assert start.status == "succeeded" and start.remaining == []
    assert sorted(o.name for o in start.outcomes) == ["tr_daily", "tr_hourly", "tr_new"]
    assert states() == {"tr_daily": "Started", "tr_hourly": "Started", "tr_keep": "Started", "tr_new": "Started",
                        "tr_paused": "Stopped"}
    # Once started, deployments start triggers again as usual.
    clock.advance(60)
    arm.set_trigger_state(f, "tr_new", "Stopped")
    plan3, result3 = deploy("3" * 40, changed=True)
    assert result3.status == "succeeded" and not plan3.of("hold") and states()["tr_new"] == "Started"
