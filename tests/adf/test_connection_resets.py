"""Connection resets on ARM calls are retried: a deployment through a flaky network still succeeds.

The ARM stand-in resets the TCP connection (RST after reading the request, no answer) on a share of
its requests: GET polls of the deployment and of trigger operations, the PUT of the deployment (same
name: idempotent), trigger stop/start, object reads. Each is idempotent, so the client retries it;
every deployment ends ``succeeded`` with the triggers as the template says (the scale-out test
tolerated lanes failed by such a reset before).
"""

from __future__ import annotations

from typing import Any

from shared.adf.deployer import DataFactoryDeployer
from shared.clock import FakeClock
from shared.config import DataFactoryTarget, Environment, PlatformConfig, Repository
from shared.deploy.model import DeployContext

from .helpers import base_resources, res, schedule_trigger, snapshot_of, template


def _ctx(target: DataFactoryTarget, settings: Any, tpl: dict[str, Any], sha: str) -> DeployContext:
    config = PlatformConfig(repository=Repository(url="https://github.com/o/r"),
                            environments={"test": Environment(data_factory=target)})
    return DeployContext(config=config, environment="test", snapshot=snapshot_of(tpl, sha=sha), settings=settings,
                         clock=FakeClock())


def test_deployments_succeed_when_a_third_of_arm_requests_are_reset(arm_standin: Any,
                                                                    arm_factory_name: str) -> None:
    arm_standin.create_factory(arm_factory_name)
    target: DataFactoryTarget = arm_standin.target(arm_factory_name, parameters={"ls_blob_sasToken": "sv=1&sig=x"})
    settings = arm_standin.settings()
    deployer = DataFactoryDeployer()
    rule = arm_standin.faults.add(r"factories/|deployments/", error_rate=0.34, error_statuses=(0, -1))
    try:
        for i, hours in enumerate((1, 2, 3)):
            resources = base_resources()
            resources[5] = res("triggers", "tr_hourly", schedule_trigger("pl_parent", hours))  # stop, update, start
            ctx = _ctx(target, settings, template(resources), str(i + 1) * 40)
            result = deployer.apply(ctx, deployer.plan(ctx))
            assert result.status == "succeeded", (result.failed_step, result.error)
            live = arm_standin.get_object(arm_factory_name, "triggers", "tr_hourly")
            assert live["properties"]["typeProperties"]["recurrence"]["interval"] == hours
            assert arm_standin.trigger_state(arm_factory_name, "tr_hourly") == "Started"
    finally:
        arm_standin.faults.remove(rule)
    assert rule.faults_injected >= 10  # the resets really happened


def test_a_reset_after_arm_accepted_the_deployment_is_not_a_failure(arm_standin: Any, arm_factory_name: str) -> None:
    """The PUT of the deployment (and a trigger stop and start) is carried out, then the connection is
    reset: the retried PUT finds its own deployment still running (ARM answers 409 DeploymentActive to a
    second PUT of a running deployment of the same name) and waits for it instead of failing."""
    arm_standin.create_factory(arm_factory_name)
    target: DataFactoryTarget = arm_standin.target(arm_factory_name, parameters={"ls_blob_sasToken": "sv=1&sig=x"})
    settings = arm_standin.settings()
    deployer = DataFactoryDeployer()
    first = _ctx(target, settings, template(base_resources()), "5" * 40)
    assert deployer.apply(first, deployer.plan(first)).status == "succeeded"
    arm_standin.deployments.deploy_delay_s = 2.0
    rules = [arm_standin.faults.add(pattern, fail_when=lambda r: True, fail_status=-1, max_faults=1)
             for pattern in (r"PUT .*/deployments/", r"/triggers/tr_hourly/stop", r"/triggers/tr_hourly/start")]
    try:
        resources = base_resources()
        resources[5] = res("triggers", "tr_hourly", schedule_trigger("pl_parent", 7))
        ctx = _ctx(target, settings, template(resources), "6" * 40)
        result = deployer.apply(ctx, deployer.plan(ctx))
        assert result.status == "succeeded", (result.failed_step, result.error)
    finally:
        for rule in rules:
            arm_standin.faults.remove(rule)
    assert [r.faults_injected for r in rules] == [1, 1, 1]
    assert arm_standin.trigger_state(arm_factory_name, "tr_hourly") == "Started"
