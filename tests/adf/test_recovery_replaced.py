"""A worker that dies after deleting the tumbling window triggers it replaces: recovery recreates them.

Tumbling window triggers whose frequency, interval or start time change cannot be updated in place;
the deployment deletes them before the ARM deployment recreates them. A worker killed in between
(here: an injected client that raises a ``BaseException`` the deployer does not catch, as a SIGKILL
leaves nothing behind to catch it) used to leave them gone for good: the recovery found "the trigger
no longer exists". The deployment now writes each definition to the audit (a write-ahead record)
before it deletes it; the recovery puts back what is still missing and starts what was started.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.adf.client import FactoryClient
from shared.adf.deployer import DataFactoryDeployer
from shared.adf.recovery import recover_deployment
from shared.audit.ledger import AuditLedger
from shared.clock import FakeClock
from shared.config import DataFactoryTarget, Environment, PlatformConfig, Repository
from shared.deploy.model import DeployContext
from shared.settings import Settings

from .helpers import base_resources, res, sched, snapshot_of, template, tumbling_trigger


class WorkerKilled(BaseException):
    """What a SIGKILL looks like to the code that was running: nothing after it runs."""


class DiesAtDeployment(FactoryClient):
    """The real client, except that the worker dies when it reaches the ARM deployment."""

    def deploy_template(self, *args: Any, **kwargs: Any) -> Any:
        raise WorkerKilled()


def _tumbling(frequency: str = "Hour", interval: int = 1) -> list[dict[str, Any]]:
    tw_a = tumbling_trigger("pl_child", frequency=frequency, interval=interval)
    tw_b = tumbling_trigger("pl_child", depends_on=["tw_a"])
    return [*base_resources(),
            res("triggers", "tw_b", tw_b, ["[concat(variables('factoryId'), '/triggers/tw_a')]"]),
            res("triggers", "tw_a", tw_a)]


def _ctx(target: DataFactoryTarget, settings: Settings, tpl: dict[str, Any], sha: str,
         ledger: AuditLedger | None) -> DeployContext:
    config = PlatformConfig(repository=Repository(url="https://github.com/o/r"),
                            environments={"test": Environment(data_factory=target)})
    return DeployContext(config=config, environment="test", snapshot=snapshot_of(tpl, sha=sha), settings=settings,
                         clock=FakeClock(), ledger=ledger, deployment_id=f"dep-{sha[:8]}" if ledger else None)


def _deployed(arm: Any, factory: str, sha: str) -> tuple[DataFactoryTarget, Settings]:
    """A new factory with the two tumbling window triggers deployed at ``sha`` (started)."""
    arm.create_factory(factory)
    target: DataFactoryTarget = arm.target(factory, parameters={"ls_blob_sasToken": "sv=1&sig=x"})
    settings = arm.settings()
    deployer = DataFactoryDeployer()
    first = _ctx(target, settings, template(_tumbling()), sha, None)
    assert deployer.apply(first, deployer.plan(first)).status == "succeeded"
    return target, settings


def test_replaced_tumbling_triggers_deleted_before_a_crash_are_recreated_and_started(
        arm_standin: Any, arm_factory_name: str, ledger: AuditLedger) -> None:
    target, settings = _deployed(arm_standin, arm_factory_name, "a" * 40)
    before = arm_standin.get_object(arm_factory_name, "triggers", "tw_a")["properties"]
    assert {t: arm_standin.trigger_state(arm_factory_name, t) for t in ("tw_a", "tw_b")} == \
        {"tw_a": "Started", "tw_b": "Started"}

    # The next commit changes tw_a's frequency: both are replaced (tw_b depends on tw_a).
    dying = DataFactoryDeployer(client_factory=lambda t, s: DiesAtDeployment(t, s))
    ctx = _ctx(target, settings, template(_tumbling(frequency="Minute", interval=15)), "b" * 40, ledger)
    plan = dying.plan(ctx)
    assert sched(plan)["replace"] == ["tw_a", "tw_b"]
    with pytest.raises(WorkerKilled):
        dying.apply(ctx, plan)
    assert sorted(arm_standin.names(arm_factory_name, "triggers")) == ["tr_daily", "tr_hourly", "tr_paused"]

    recovery = recover_deployment(ledger, "dep-bbbbbbbb", target, settings)
    assert recovery.failed == {}
    assert sorted(recovery.restored) == ["tw_a", "tw_b"]
    assert sorted(recovery.recreated) == ["trigger/tw_a", "trigger/tw_b"]
    after = arm_standin.get_object(arm_factory_name, "triggers", "tw_a")["properties"]
    assert after["typeProperties"] == before["typeProperties"]  # the definition it had, not the new one
    assert {t: arm_standin.trigger_state(arm_factory_name, t) for t in ("tw_a", "tw_b")} == \
        {"tw_a": "Started", "tw_b": "Started"}
    recorded = {(o.name, o.action, o.status) for o in ledger.objects("dep-bbbbbbbb")}
    assert {("tw_a", "recreate", "succeeded"), ("tw_b", "recreate", "succeeded"),
            ("tw_a", "start", "succeeded"), ("tw_b", "start", "succeeded")} <= recorded


def test_write_ahead_record_is_written_before_the_delete(arm_standin: Any, arm_factory_name: str,
                                                         ledger: AuditLedger) -> None:
    """The definition is in the audit even when the delete itself is what the worker dies in."""
    target, settings = _deployed(arm_standin, arm_factory_name, "c" * 40)

    class DiesAfterDelete(FactoryClient):
        def delete_object(self, object_type: str, name: str) -> None:
            super().delete_object(object_type, name)
            raise WorkerKilled()

    dying = DataFactoryDeployer(client_factory=lambda t, s: DiesAfterDelete(t, s))
    ctx = _ctx(target, settings, template(_tumbling(frequency="Minute", interval=15)), "d" * 40, ledger)
    with pytest.raises(WorkerKilled):
        dying.apply(ctx, dying.plan(ctx))
    assert "tw_b" not in arm_standin.names(arm_factory_name, "triggers")  # the first wave deleted it
    recovery = recover_deployment(ledger, "dep-dddddddd", target, settings)
    assert recovery.failed == {} and sorted(recovery.restored) == ["tw_a", "tw_b"]
    assert "trigger/tw_b" in recovery.recreated and "trigger/tw_a" not in recovery.recreated
    assert arm_standin.trigger_state(arm_factory_name, "tw_b") == "Started"
