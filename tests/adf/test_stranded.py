"""A trigger a failed restore could not start is recorded stranded, alerted, and retried by the timer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shared.adf.stranded import KIND, retry_stranded, stranded_hook
from shared.audit.ledger import AuditLedger
from shared.audit.records import DeploymentRecord
from shared.clock import FakeClock
from shared.config import parse_config
from shared.deploy.lock import LeaseLock
from shared.release.notify import Notifier
from shared.storage import StorageAccount
from tests.release.test_notify import Receiver

from .helpers import schedule_trigger


def _setup(arm: Any, factory: str, receiver: Receiver) -> tuple[Any, Any]:
    arm.create_factory(factory)
    arm.put_object(factory, "pipelines", "pl", {"activities": [
        {"name": "W", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1}}]})
    for name in ("tr_hourly", "tr_daily"):
        arm.put_object(factory, "triggers", name, schedule_trigger("pl"))
        arm.set_trigger_state(factory, name, "Stopped")
    target = arm.target(factory).model_dump(exclude_none=True)
    config = parse_config({"repository": {"url": "https://github.com/o/r"}, "environments": {"dev": {
        "data_factory": target, "notify": [{"kind": "webhook", "url_setting": "HOOK_URL"}]}}})
    settings = arm.settings({"HOOK_URL": receiver.url})
    return config, settings


@pytest.fixture
def world(arm_standin: Any, arm_factory_name: str) -> Iterator[tuple[Receiver, Any, Any]]:
    """A notification receiver, and the factory and configuration of :func:`_setup` that use it."""
    receiver = Receiver()
    try:
        yield (receiver, *_setup(arm_standin, arm_factory_name, receiver))
    finally:
        receiver.close()


def test_stranded_triggers_are_recorded_alerted_and_started_by_the_timer(
        world: tuple[Receiver, Any, Any], arm_standin: Any, arm_factory_name: str, ledger: AuditLedger,
        storage: StorageAccount, clock: FakeClock) -> None:
    receiver, config, settings = world
    notifier = Notifier(config, settings, clock, ledger, backoff_seconds=0.01)
    rec, _ = ledger.create_deployment(DeploymentRecord(
        id=ledger.new_deployment_id("dev", "adf", "x"), environment="dev", component="adf", commit="a" * 40))
    rec = ledger.transition(rec.id, "failed", error="arm_deployment: quota",
                            error_details={"stranded_triggers": ["tr_hourly", "tr_daily"]})
    stranded_hook(ledger, notifier)(rec)
    acts = {a.data["trigger"]: a for a in ledger.iter_activity("dev", kind=KIND)}
    assert set(acts) == {"tr_hourly", "tr_daily"} and {a.status for a in acts.values()} == {"stranded"}
    alert = receiver.bodies[-1]
    assert alert["event"] == "stranded" and "tr_daily, tr_hourly" in alert["reason"]

    # ADF still refuses one start: that one stays stranded, with the attempt counted.
    rule = arm_standin.faults.add("triggers.start", fail_when=lambda r: "tr_daily" in r.path, fail_status=409)
    clock.advance(300)
    report = retry_stranded(config, ledger, settings, storage, notifier=notifier)
    assert report["restarted"] == ["dev/tr_hourly"] and report["still_stranded"] == ["dev/tr_daily"]
    assert arm_standin.trigger_state(arm_factory_name, "tr_hourly") == "Started"
    assert arm_standin.trigger_state(arm_factory_name, "tr_daily") == "Stopped"
    acts = {a.data["trigger"]: a for a in ledger.iter_activity("dev", kind=KIND)}
    assert acts["tr_daily"].status == "stranded" and acts["tr_daily"].data["attempts"] == 1
    assert acts["tr_hourly"].status == "restarted"

    # While a deployment holds the lock the timer does not touch the factory.
    arm_standin.faults.remove(rule)
    lock = LeaseLock(storage, "dev", "adf", duration=15)
    assert lock.try_acquire("a deployment")
    try:
        assert retry_stranded(config, ledger, settings, storage)["still_stranded"] == ["dev/tr_daily"]
    finally:
        lock.release()
    assert arm_standin.trigger_state(arm_factory_name, "tr_daily") == "Stopped"

    # Then it keeps trying until it is started.
    report = retry_stranded(config, ledger, settings, storage, notifier=notifier)
    assert report["restarted"] == ["dev/tr_daily"]
    assert arm_standin.trigger_state(arm_factory_name, "tr_daily") == "Started"
    assert "started again" in receiver.bodies[-1]["reason"]
    assert retry_stranded(config, ledger, settings, storage) == {"restarted": [], "resolved": [],
                                                                 "still_stranded": []}


def test_a_later_successful_deployment_resolves_a_stranded_trigger(
        world: tuple[Receiver, Any, Any], arm_standin: Any, arm_factory_name: str, ledger: AuditLedger,
        storage: StorageAccount, clock: FakeClock) -> None:
    _, config, settings = world
    rec, _ = ledger.create_deployment(DeploymentRecord(
        id=ledger.new_deployment_id("dev", "adf", "x"), environment="dev", component="adf", commit="a" * 40))
    rec = ledger.transition(rec.id, "failed", error_details={"stranded_triggers": ["tr_hourly"]})
    stranded_hook(ledger, None)(rec)
    clock.advance(60)
    later, _ = ledger.create_deployment(DeploymentRecord(
        id=ledger.new_deployment_id("dev", "adf", "y"), environment="dev", component="adf", commit="b" * 40))
    ledger.transition(later.id, "succeeded")
    report = retry_stranded(config, ledger, settings, storage)
    assert report["resolved"] == ["dev/tr_hourly"]
    assert arm_standin.trigger_state(arm_factory_name, "tr_hourly") == "Stopped"  # the new deployment's say
