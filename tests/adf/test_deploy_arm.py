"""ARM deployments as real Azure runs them, against the strict stand-in: long deployments, preflight,
per-object failures, throttling, event subscriptions, provisioning conflicts."""

from __future__ import annotations

import json
from typing import Any

from shared.adf.client import FactoryClient, FactoryOperationError
from shared.audit.ledger import AuditLedger

from .helpers import base_resources, blob_event_trigger, res, schedule_trigger, snapshot_of, template
from .test_deploy import _ctx, _deploy


class _Time:
    """A clock the client sleeps on without waiting."""

    def __init__(self) -> None:
        self.now, self.waits = 0.0, []

    def sleep(self, s: float) -> None:
        self.waits.append(s)
        self.now += s

    def monotonic(self) -> float:
        return self.now


def _changed(interval: int = 5) -> list[dict[str, Any]]:
    new = base_resources()
    new[5] = res("triggers", "tr_hourly", schedule_trigger("pl_parent", interval))
    return new


def _first(arm: Any, factory: str, resources: list[dict[str, Any]] | None = None) -> None:
    arm.create_factory(factory)
    _, r = _deploy(_ctx(arm, factory, snapshot_of(template(resources or base_resources()))))
    assert r.status == "succeeded", (r.error, r.error_details)


def _stopped(arm: Any, factory: str) -> tuple[FactoryClient, _Time]:
    """After a first deployment: a client on a test clock that has stopped ``tr_hourly``."""
    _first(arm, factory)
    clock = _Time()
    client = FactoryClient(arm.target(factory), arm.settings(), sleep=clock.sleep, monotonic=clock.monotonic)
    client.stop_trigger("tr_hourly")
    return client, clock


def test_running_deployment_is_cancelled_at_timeout_and_triggers_restored(arm_standin: Any,
                                                                          arm_factory_name: str) -> None:
    """#17.2: a deployment still Running at deployment_timeout is cancelled and waited for; nothing after it
    runs (no deletes, no starts of what it changed) and the stopped triggers are started again."""
    _first(arm_standin, arm_factory_name, [*base_resources(), res("pipelines", "pl_gone", {"activities": []})])
    arm_standin.slow_deployment("test-22222222", 60.0)
    ctx = _ctx(arm_standin, arm_factory_name, snapshot_of(template(_changed()), sha="2" * 40),
               deployment_timeout=1)
    plan, result = _deploy(ctx)
    assert [a.name for a in plan.deletes] == ["pl_gone"]
    assert result.status == "failed" and result.failed_step == "arm_deployment", result.error
    assert result.error_details["code"] == "arm_deployment_timeout"
    assert result.error_details["provisioning_state"] == "Canceled"
    dep = arm_standin.deployments.get(arm_standin.subscription_id, arm_standin.resource_group, "test-22222222")
    assert dep.state == "Canceled"
    assert "pl_gone" in arm_standin.names(arm_factory_name, "pipelines")  # nothing deleted
    assert arm_standin.trigger_state(arm_factory_name, "tr_hourly") == "Started"  # restored
    live = arm_standin.get_object(arm_factory_name, "triggers", "tr_hourly")
    assert live["properties"]["typeProperties"]["recurrence"]["interval"] == 1  # the change never applied
    assert [o.status for o in result.objects if o.action == "update"] == ["skipped"]


def test_preflight_refuses_before_any_trigger_stops(arm_standin: Any, arm_factory_name: str) -> None:
    """#17.3: ARM's validation runs before anything changes; its message is the error."""
    _first(arm_standin, arm_factory_name)
    broken = _changed()
    broken[5]["dependsOn"] = ["[concat(variables('factoryId'), '/pipelines/pl_missing')]"]
    stops = arm_standin.counters.count("triggers.stop")
    _, result = _deploy(_ctx(arm_standin, arm_factory_name, snapshot_of(template(broken), sha="3" * 40)))
    assert result.status == "failed" and result.failed_step == "preflight"
    assert "is not defined in the template" in result.error
    assert result.error_details["code"] == "InvalidTemplate"
    assert arm_standin.counters.count("triggers.stop") == stops  # no trigger was stopped
    assert arm_standin.counters.count("deployments.put") == 1  # only the first deployment was ever made
    assert arm_standin.trigger_state(arm_factory_name, "tr_hourly") == "Started"


def test_failed_deployment_says_which_objects_failed(arm_standin: Any, arm_factory_name: str,
                                                     ledger: AuditLedger) -> None:
    """#17.12: per-object results from the deployment operations; the failed step has the correlation id."""
    arm_standin.create_factory(arm_factory_name)
    arm_standin.fail_object(arm_factory_name, "pipelines", "pl_child", "BadRequest", "Injected: bad activity")
    ctx = _ctx(arm_standin, arm_factory_name, snapshot_of(template(base_resources()), sha="4" * 40), ledger=ledger)
    _, result = _deploy(ctx)
    assert result.status == "failed" and result.failed_step == "arm_deployment"
    by_name = {o.name: o for o in result.objects if o.action == "create"}
    assert by_name["pl_child"].status == "failed" and "bad activity" in (by_name["pl_child"].error or "")
    assert by_name["ls_kv"].status == "succeeded" and by_name["ds_raw"].status == "succeeded"
    assert by_name["pl_parent"].status == "skipped"  # depends on the failed one: ARM never reached it
    assert result.error_details["failed_resources"][0]["name"].endswith("/pl_child")
    step = next(s for s in ledger.steps("dep-44444444") if s["name"] == "arm_deployment")
    assert step["status"] == "failed" and step["details"].get("correlation_id")


def test_throttling_is_retried_within_a_time_budget(arm_standin: Any, arm_factory_name: str) -> None:
    """#16.6: twelve 429s in a row are waited out (Retry-After honoured); a shorter budget gives up."""
    client, clock = _stopped(arm_standin, arm_factory_name)
    arm_standin.faults.add(r"^triggers\.start$", fail_when=lambda r: True, fail_status=429, max_faults=12)
    client.start_trigger("tr_hourly")
    assert arm_standin.trigger_state(arm_factory_name, "tr_hourly") == "Started"
    assert clock.waits == [1.0] * 12  # the stand-in's Retry-After: 1
    short = FactoryClient(arm_standin.target(arm_factory_name, throttle_budget=5), arm_standin.settings(),
                          sleep=clock.sleep, monotonic=clock.monotonic)
    short.stop_trigger("tr_hourly")
    arm_standin.faults.clear()
    arm_standin.faults.add(r"^triggers\.start$", fail_when=lambda r: True, fail_status=429, max_faults=12)
    try:
        short.start_trigger("tr_hourly")
        raise AssertionError("a 5 s budget cannot outlast twelve 1 s Retry-Afters")
    except FactoryOperationError as exc:
        assert exc.details["status_code"] == 429 and exc.details["code"] == "TooManyRequests"
    assert short.throttle.retries == 5


def test_restore_that_cannot_start_a_trigger_records_it_stranded(arm_standin: Any, arm_factory_name: str,
                                                                 ledger: AuditLedger) -> None:
    """#16.6: a trigger the restore cannot start again is named as stranded (result and step)."""
    _first(arm_standin, arm_factory_name)
    arm_standin.fail_deployment("test-55555555", code="DeploymentFailed", message="Injected: quota")
    arm_standin.faults.add(r"/triggers/tr_hourly/start", fail_when=lambda r: True, fail_status=429)
    ctx = _ctx(arm_standin, arm_factory_name, snapshot_of(template(_changed()), sha="5" * 40), ledger=ledger,
               throttle_budget=0)
    _, result = _deploy(ctx)
    assert result.status == "failed" and result.error_details["stranded_triggers"] == ["tr_hourly"]
    step = next(s for s in ledger.steps("dep-55555555") if s["name"] == "restore_triggers")
    assert step["details"]["stranded"] == ["tr_hourly"]
    assert arm_standin.trigger_state(arm_factory_name, "tr_hourly") == "Stopped"


def test_failed_unsubscribe_resubscribes_the_others(arm_standin: Any, arm_factory_name: str) -> None:
    """#17.7: one unsubscribe failing in the wave: the ones already unsubscribed are subscribed again;
    no trigger is left Started with its subscription Disabled."""
    blobs = [res("triggers", f"tr_blob_{c}", blob_event_trigger("pl_parent")) for c in "ab"]
    _first(arm_standin, arm_factory_name, [*base_resources(), *blobs])
    for c in "ab":
        assert arm_standin.subscription_status(arm_factory_name, f"tr_blob_{c}") == "Enabled"
    changed = [res("triggers", f"tr_blob_{c}", {**blob_event_trigger("pl_parent"), "annotations": ["v2"]})
               for c in "ab"]
    arm_standin.faults.add(r"/triggers/tr_blob_b/unsubscribeFromEvents", fail_when=lambda r: True,
                           fail_status=400)
    _, result = _deploy(_ctx(arm_standin, arm_factory_name,
                             snapshot_of(template([*base_resources(), *changed]), sha="6" * 40)))
    assert result.status == "failed" and result.failed_step == "stop_triggers"
    for c in "ab":
        assert arm_standin.trigger_state(arm_factory_name, f"tr_blob_{c}") == "Started"
        assert arm_standin.subscription_status(arm_factory_name, f"tr_blob_{c}") in ("Enabled", "Provisioning")
    assert any(o.name == "tr_blob_a" and o.action == "subscribe" and o.status == "succeeded"
               for o in result.objects)


def test_trigger_start_retries_the_provisioning_conflict(arm_standin: Any, arm_factory_name: str) -> None:
    """#17.8: ADF's 400 "Resource cannot be updated during provisioning" is retried with backoff."""
    client, clock = _stopped(arm_standin, arm_factory_name)
    arm_standin.conflict_trigger(arm_factory_name, "tr_hourly", times=3)
    client.start_trigger("tr_hourly")
    assert arm_standin.trigger_state(arm_factory_name, "tr_hourly") == "Started"
    assert clock.waits == [1.0, 2.0, 4.0]
    # the stand-in refuses a start while an event subscription is still changing, as ADF does
    arm_standin.put_object(arm_factory_name, "triggers", "tr_ev", json.loads(json.dumps(
        {**blob_event_trigger("pl_parent"), "typeProperties": {**blob_event_trigger("pl_parent")["typeProperties"],
                                                               "scope": "/subscriptions/x/storageAccounts/dev"}})))
    arm_standin.store.clock = lambda: 0.0  # subscriptions never finish provisioning
    client.df.triggers.begin_start(arm_standin.resource_group, arm_factory_name, "tr_ev").result()
    assert arm_standin.subscription_status(arm_factory_name, "tr_ev") == "Provisioning"
    short = FactoryClient(arm_standin.target(arm_factory_name), arm_standin.settings(), sleep=clock.sleep,
                          monotonic=clock.monotonic, lro_timeout=3)
    try:
        short.stop_trigger("tr_ev")
        raise AssertionError("a stop during provisioning must be refused")
    except FactoryOperationError as exc:
        assert "cannot be updated during provisioning" in str(exc)


def test_what_if_is_an_optional_part_of_the_plan(arm_standin: Any, arm_factory_name: str) -> None:
    """#17.3: ARM's what-if next to our plan (changes nothing); the CLI's ``dataops plan --what-if``."""
    from shared.adf.deployer import DataFactoryDeployer

    _first(arm_standin, arm_factory_name)
    deployer = DataFactoryDeployer()
    ctx = _ctx(arm_standin, arm_factory_name, snapshot_of(template(_changed()), sha="7" * 40))
    plan = deployer.what_if(ctx, deployer.plan(ctx))
    what_if = plan.data["what_if"]
    assert what_if["supported"] and what_if["counts"] == {"Modify": 1, "NoChange": 7}
    assert [c["resource_id"].rsplit("/", 1)[1] for c in what_if["changes"]] == ["tr_hourly"]
    assert arm_standin.counters.count("deployments.put") == 1  # only the first deployment was made
    assert arm_standin.trigger_state(arm_factory_name, "tr_hourly") == "Started"


def test_a_server_error_is_retried_a_few_times_not_for_the_whole_budget(arm_standin: Any,
                                                                        arm_factory_name: str) -> None:
    """A 500 is not throttling: three retries (azure-core's count), then the caller sees it, within seconds."""
    client, clock = _stopped(arm_standin, arm_factory_name)
    arm_standin.faults.add(r"^triggers\.start$", fail_when=lambda r: True, fail_status=500)
    try:
        client.start_trigger("tr_hourly")
        raise AssertionError("a trigger start that always answers 500 cannot succeed")
    except FactoryOperationError as exc:
        assert exc.details["status_code"] == 500
    assert client.throttle.retries == 3 and sum(clock.waits) < 10
