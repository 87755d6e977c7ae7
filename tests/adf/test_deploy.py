"""DataFactoryDeployer against the ARM + Data Factory stand-in (HTTPS, official SDKs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shared.adf.deployer import DataFactoryDeployer
from shared.adf.parameters import ParameterError
from shared.audit.ledger import AuditLedger
from shared.clock import FakeClock
from shared.config import AdfSource, DataFactoryTarget, Environment, PlatformConfig, Repository
from shared.deploy.components import COMPONENTS
from shared.deploy.model import DeployContext
from shared.git.snapshot import CommitSnapshot

from .helpers import (
    CORPUS_FACTORIES,
    base_resources,
    blob_event_trigger,
    corpus_snapshot,
    linked_layout,
    res,
    sched,
    schedule_trigger,
    snapshot_of,
    template,
    tumbling_trigger,
)

SECRET = "sv=2024&sig=TOPSECRETSAS"


def _ctx(arm: Any, factory: str, snap: CommitSnapshot, *, ledger: AuditLedger | None = None,
         clock: FakeClock | None = None, factory_dir: str | None = None, force: bool = False,
         **target_kw: Any) -> DeployContext:
    params = {"ls_blob_sasToken": SECRET, **target_kw.pop("parameters", {})}
    target: DataFactoryTarget = arm.target(factory, parameters=params, **target_kw)
    config = PlatformConfig(repository=Repository(url="https://github.com/o/r"),
                            adf=AdfSource(factory_dir=factory_dir),
                            environments={"test": Environment(data_factory=target)})
    return DeployContext(config=config, environment="test", snapshot=snap, settings=arm.settings(),
                         clock=clock or FakeClock(), ledger=ledger,
                         deployment_id=f"dep-{snap.sha[:8]}" if ledger else None, force=force)


def _deploy(ctx: DeployContext) -> tuple[Any, Any]:
    deployer = COMPONENTS.deployer("adf")
    plan = deployer.plan(ctx)
    return plan, deployer.apply(ctx, plan)


def test_first_deployment_then_noop(arm_standin: Any, arm_factory_name: str, ledger: AuditLedger) -> None:
    arm_standin.create_factory(arm_factory_name)
    plan, result = _deploy(_ctx(arm_standin, arm_factory_name, snapshot_of(template(base_resources())),
                                ledger=ledger))
    assert result.status == "succeeded", result.error
    assert plan.counts()["create"] == 8
    assert sorted(arm_standin.names(arm_factory_name, "pipelines")) == ["pl_child", "pl_parent"]
    assert arm_standin.trigger_state(arm_factory_name, "tr_hourly") == "Started"
    assert arm_standin.trigger_state(arm_factory_name, "tr_paused") == "Stopped"
    # nothing secret in the plan or the audit
    assert SECRET not in json.dumps(plan.to_json(), default=str)
    steps = [s["name"] for s in ledger.steps("dep-11111111")]
    assert steps[:3] == ["preflight", "stop_triggers", "arm_deployment"] and "start_triggers" in steps
    assert {o.name for o in ledger.objects("dep-11111111") if o.action == "create"} >= {"pl_parent", "ls_kv"}
    again, result2 = _deploy(_ctx(arm_standin, arm_factory_name, snapshot_of(template(base_resources()),
                                                                             sha="2" * 40)))
    assert result2.status == "succeeded"
    assert not again.has_changes, again.to_json()


def test_update_changes_two_triggers_and_removes_pipeline_and_dataset(arm_standin: Any,
                                                                      arm_factory_name: str) -> None:
    arm_standin.create_factory(arm_factory_name)
    resources = [*base_resources(), res("datasets", "ds_old", {
        "linkedServiceName": {"referenceName": "ls_blob", "type": "LinkedServiceReference"},
        "type": "Json", "typeProperties": {}, "annotations": []}),
        res("pipelines", "pl_old", {"activities": [{"name": "L", "type": "Lookup", "typeProperties": {
            "source": {"type": "JsonSource"}, "dataset": {"referenceName": "ds_old", "type": "DatasetReference"}}}],
            "annotations": []})]
    _, r1 = _deploy(_ctx(arm_standin, arm_factory_name, snapshot_of(template(resources))))
    assert r1.status == "succeeded", r1.error
    new = base_resources()
    new[5] = res("triggers", "tr_hourly", schedule_trigger("pl_parent", 3))
    new[6] = res("triggers", "tr_daily", schedule_trigger("pl_parent", 24, params={"mode": "full", "days": [1, 3]}))
    plan, r2 = _deploy(_ctx(arm_standin, arm_factory_name, snapshot_of(template(new), sha="3" * 40)))
    assert r2.status == "succeeded", r2.error
    assert sorted(a.name for a in plan.of("update")) == ["tr_daily", "tr_hourly"]
    assert sorted(a.name for a in plan.deletes) == ["ds_old", "pl_old"]
    assert sched(plan)["stop_waves"] == [["tr_daily", "tr_hourly"]]
    assert "pl_old" not in arm_standin.names(arm_factory_name, "pipelines")
    assert "ds_old" not in arm_standin.names(arm_factory_name, "datasets")
    live = arm_standin.get_object(arm_factory_name, "triggers", "tr_hourly")
    assert live["properties"]["typeProperties"]["recurrence"]["interval"] == 3
    assert arm_standin.trigger_state(arm_factory_name, "tr_hourly") == "Started"


def test_failed_arm_deployment_restores_triggers(arm_standin: Any, arm_factory_name: str,
                                                 ledger: AuditLedger) -> None:
    arm_standin.create_factory(arm_factory_name)
    _, r1 = _deploy(_ctx(arm_standin, arm_factory_name, snapshot_of(template(base_resources()))))
    assert r1.status == "succeeded"
    new = base_resources()
    new[5] = res("triggers", "tr_hourly", schedule_trigger("pl_parent", 5))
    arm_standin.fail_deployment("test-44444444", code="DeploymentFailed", message="Injected: quota exceeded")
    ctx = _ctx(arm_standin, arm_factory_name, snapshot_of(template(new), sha="4" * 40), ledger=ledger)
    plan, result = _deploy(ctx)
    assert sched(plan)["stop_waves"] == [["tr_hourly"]]
    assert result.status == "failed" and result.failed_step == "arm_deployment"
    assert result.error_details and result.error_details.get("correlation_id")
    assert "quota" in json.dumps(result.error_details)
    assert arm_standin.trigger_state(arm_factory_name, "tr_hourly") == "Started"
    assert arm_standin.trigger_state(arm_factory_name, "tr_daily") == "Started"
    assert any(s.name == "restore_triggers" for s in ctx.steps.steps)


@pytest.mark.parametrize("replace", [False, True], ids=["stopped", "replaced"])
def test_failed_deployment_restarts_tumbling_dependencies_first(arm_standin: Any, arm_factory_name: str,
                                                                ledger: AuditLedger, replace: bool) -> None:
    arm_standin.create_factory(arm_factory_name)

    def tumbling(frequency: str = "Hour", interval: int = 1, concurrency: int = 1) -> list[dict[str, Any]]:
        tw_a = tumbling_trigger("pl_child", frequency=frequency, interval=interval)
        tw_b = tumbling_trigger("pl_child", depends_on=["tw_a"])
        for t in (tw_a, tw_b):
            t["typeProperties"]["maxConcurrency"] = concurrency
        return [*base_resources(),
                res("triggers", "tw_b", tw_b, ["[concat(variables('factoryId'), '/triggers/tw_a')]"]),
                res("triggers", "tw_a", tw_a)]

    _, r1 = _deploy(_ctx(arm_standin, arm_factory_name, snapshot_of(template(tumbling()))))
    assert r1.status == "succeeded", (r1.error, r1.error_details)
    # ADF may refuse to start a tumbling window trigger whose dependency is not started: record, for
    # every start of tw_b, whether tw_a was running. tw_a's start is slowed so that starting both in
    # one parallel wave would reach tw_b's start while tw_a is still stopped.
    tw_a_state_at_tw_b_start: list[str] = []

    def watch(request: Any) -> bool:
        tw_a_state_at_tw_b_start.append(arm_standin.trigger_state(arm_factory_name, "tw_a"))
        return False  # observe only, never fail

    arm_standin.faults.add(r"/triggers/tw_b/start", fail_when=watch)
    arm_standin.faults.add(r"/triggers/tw_a/start", latency_s=0.3)
    new = tumbling(frequency="Minute", interval=15) if replace else tumbling(concurrency=2)
    arm_standin.fail_deployment("test-bbbbbbbb", code="DeploymentFailed", message="Injected: quota exceeded")
    ctx = _ctx(arm_standin, arm_factory_name, snapshot_of(template(new), sha="b" * 40), ledger=ledger)
    plan, result = _deploy(ctx)
    assert sched(plan)["stop_waves"] == [["tw_b"], ["tw_a"]]
    assert sched(plan)["replace"] == (["tw_a", "tw_b"] if replace else [])
    assert result.status == "failed" and result.failed_step == "arm_deployment"
    assert arm_standin.trigger_state(arm_factory_name, "tw_a") == "Started"
    assert arm_standin.trigger_state(arm_factory_name, "tw_b") == "Started"
    assert tw_a_state_at_tw_b_start == ["Started"]
    restarted = [o.name for o in ledger.objects("dep-bbbbbbbb") if o.action == "start" and o.status == "succeeded"]
    assert restarted == ["tw_a", "tw_b"]
    if replace:  # recreated with the definition they had (the failed deployment changed nothing)
        live = arm_standin.get_object(arm_factory_name, "triggers", "tw_a")
        assert live["properties"]["typeProperties"]["frequency"] == "Hour"


def test_delete_blocked_by_reference_is_ordered(arm_standin: Any, arm_factory_name: str) -> None:
    arm_standin.create_factory(arm_factory_name)
    _, r1 = _deploy(_ctx(arm_standin, arm_factory_name, snapshot_of(template(base_resources()))))
    assert r1.status == "succeeded"
    keep = base_resources()[:2]  # only the linked services stay
    plan, r2 = _deploy(_ctx(arm_standin, arm_factory_name, snapshot_of(template(keep), sha="5" * 40)))
    assert r2.status == "succeeded", (r2.error, r2.error_details)
    names = [i["name"] for w in sched(plan)["delete_waves"] for i in w]
    assert names.index("pl_parent") < names.index("pl_child") < names.index("ds_raw")
    assert arm_standin.names(arm_factory_name, "pipelines") == []
    assert arm_standin.names(arm_factory_name, "triggers") == []


def test_event_triggers_unsubscribed_and_restarted(arm_standin: Any, arm_factory_name: str) -> None:
    arm_standin.create_factory(arm_factory_name)
    resources = [*base_resources(), res("triggers", "tr_blob", blob_event_trigger("pl_parent"))]
    _, r1 = _deploy(_ctx(arm_standin, arm_factory_name, snapshot_of(template(resources))))
    assert r1.status == "succeeded", r1.error
    assert arm_standin.trigger_state(arm_factory_name, "tr_blob") == "Started"
    changed = [*base_resources(), res("triggers", "tr_blob", {**blob_event_trigger("pl_parent"),
                                                              "annotations": ["v2"]})]
    plan, r2 = _deploy(_ctx(arm_standin, arm_factory_name, snapshot_of(template(changed), sha="6" * 40)))
    assert r2.status == "succeeded", r2.error
    assert sched(plan)["unsubscribe"] == ["tr_blob"]
    assert [o.action for o in r2.objects if o.name == "tr_blob"][:2] == ["unsubscribe", "stop"]
    assert arm_standin.trigger_state(arm_factory_name, "tr_blob") == "Started"


def test_tumbling_window_dependencies_start_in_order_and_replace(arm_standin: Any, arm_factory_name: str) -> None:
    arm_standin.create_factory(arm_factory_name)
    resources = [*base_resources(),
                 res("triggers", "tw_b", tumbling_trigger("pl_child", depends_on=["tw_a"]),
                     ["[concat(variables('factoryId'), '/triggers/tw_a')]"]),
                 res("triggers", "tw_a", tumbling_trigger("pl_child"))]
    _, r1 = _deploy(_ctx(arm_standin, arm_factory_name, snapshot_of(template(resources))))
    assert r1.status == "succeeded", (r1.error, r1.error_details)
    starts = [o.name for o in r1.objects if o.action == "start"]
    assert starts.index("tw_a") < starts.index("tw_b")
    resources[-1] = res("triggers", "tw_a", tumbling_trigger("pl_child", frequency="Minute", interval=15))
    plan2, r2 = _deploy(_ctx(arm_standin, arm_factory_name, snapshot_of(template(resources), sha="7" * 40)))
    assert r2.status == "succeeded", (r2.error, r2.error_details)
    # tw_b depends on tw_a: it blocks tw_a's delete, so it is replaced too, and started after it
    assert sched(plan2)["replace"] == ["tw_a", "tw_b"] and sched(plan2)["replace_waves"] == [["tw_b"], ["tw_a"]]
    starts2 = [o.name for o in r2.objects if o.action == "start"]
    assert starts2 == ["tw_a", "tw_b"]
    live = arm_standin.get_object(arm_factory_name, "triggers", "tw_a")
    assert live["properties"]["typeProperties"]["frequency"] == "Minute"
    assert arm_standin.trigger_state(arm_factory_name, "tw_a") == "Started"


def test_linked_only_templates_deploy(arm_standin: Any, arm_factory_name: str) -> None:
    arm_standin.create_factory(arm_factory_name)
    files = linked_layout(template(base_resources()), per_child=4)
    plan, result = _deploy(_ctx(arm_standin, arm_factory_name, CommitSnapshot("8" * 40, files)))
    assert result.status == "succeeded", (result.error, result.error_details)
    assert plan.data["template"]["layout"] == "linked"
    assert len(arm_standin.names(arm_factory_name, "triggers")) == 3
    # each child its own deployment: the second needs objects of the first
    assert sched(plan)["deployments"] == [["0"], ["1"]]
    assert arm_standin.deployments.get(arm_standin.subscription_id, arm_standin.resource_group,
                                       "test-88888888-1").state == "Succeeded"


def test_missing_parameter_stops_before_anything_changes(arm_standin: Any, arm_factory_name: str) -> None:
    arm_standin.create_factory(arm_factory_name)
    tpl = template(base_resources(), {"retries": {"type": "int"}})
    with pytest.raises(ParameterError) as exc:
        DataFactoryDeployer().plan(_ctx(arm_standin, arm_factory_name, snapshot_of(tpl)))
    assert "retries" in exc.value.message
    assert arm_standin.names(arm_factory_name, "pipelines") == []


def test_delete_everything_guard(arm_standin: Any, arm_factory_name: str) -> None:
    arm_standin.create_factory(arm_factory_name)
    _, r1 = _deploy(_ctx(arm_standin, arm_factory_name, snapshot_of(template(base_resources()))))
    assert r1.status == "succeeded"
    other = [res("pipelines", "unrelated", {"activities": [], "annotations": []})]
    plan = DataFactoryDeployer().plan(_ctx(arm_standin, arm_factory_name, snapshot_of(template(other), sha="a" * 40)))
    assert plan.refused and "every object" in plan.refused
    result = DataFactoryDeployer().apply(_ctx(arm_standin, arm_factory_name, snapshot_of(template(other),
                                                                                         sha="a" * 40)), plan)
    assert result.status == "failed" and result.failed_step == "plan"
    assert len(arm_standin.names(arm_factory_name, "pipelines")) == 2


@pytest.mark.parametrize(("folder", "factory_dir"), CORPUS_FACTORIES)
def test_corpus_deploys_to_empty_factory_then_noop(arm_standin: Any, arm_factory_name: str, corpus: Path,
                                                   folder: str, factory_dir: str) -> None:
    arm_standin.create_factory(arm_factory_name)
    snap = corpus_snapshot(corpus / "adf" / folder)
    deployer = DataFactoryDeployer()
    try:
        deployer.plan(_ctx(arm_standin, arm_factory_name, snap, factory_dir=factory_dir or None))
        fill: dict[str, Any] = {}
    except ParameterError as exc:
        fill = {n: "placeholder-value" for n in exc.details["missing"]}
    ctx = _ctx(arm_standin, arm_factory_name, snap, factory_dir=factory_dir or None, parameters=fill)
    plan = deployer.plan(ctx)
    assert plan.counts().get("create", 0) > 0
    result = deployer.apply(ctx, plan)
    assert result.status == "succeeded", (result.error, result.error_details)
    stops = arm_standin.counters.count("triggers.stop")
    again = deployer.plan(_ctx(arm_standin, arm_factory_name, snap, factory_dir=factory_dir or None,
                               parameters=fill))
    assert not again.has_changes, [a.to_json() for a in again.actions if a.action not in ("unchanged", "leave")]
    assert deployer.apply(ctx, again).status == "succeeded"
    assert arm_standin.counters.count("triggers.stop") == stops  # the no-op stops nothing
    # an edit commit: one trigger changed, one pipeline nothing refers to removed
    edited, trigger, pipeline = _edit_corpus(snap, plan.data["template"]["files"], factory_dir)
    if trigger is None and pipeline is None:
        return
    ectx = _ctx(arm_standin, arm_factory_name, edited, factory_dir=factory_dir or None, parameters=fill)
    plan3 = deployer.plan(ectx)
    result3 = deployer.apply(ectx, plan3)
    assert result3.status == "succeeded", (result3.error, result3.error_details)
    assert [a.name for a in plan3.of("update")] == ([trigger] if trigger else [])
    assert [a.name for a in plan3.deletes] == ([pipeline] if pipeline else [])
    stopped = sorted(n for w in sched(plan3)["stop_waves"] for n in w)
    was_started = trigger is not None and any(r["name"] == trigger and r["live_state"] == "Started"
                                              for r in sched(plan3)["triggers"])
    assert stopped == ([trigger] if was_started else [])
    if pipeline:
        assert pipeline.lower() not in [n.lower() for n in arm_standin.names(arm_factory_name, "pipelines")]


def _edit_corpus(snap: CommitSnapshot, used: list[str], factory_dir: str) -> tuple[CommitSnapshot, str | None,
                                                                                    str | None]:
    """The publish output with the first trigger's annotations changed and the first pipeline that nothing
    references removed, in every template file that declares them (full and linked alike)."""
    import re

    prefix = f"{factory_dir.strip('/')}/" if factory_dir else ""
    docs = {p: json.loads(snap.files[prefix + p]) for p in used if "Parameters" not in p and "parameters" not in p}
    text = "\n".join(json.dumps(d) for d in docs.values())

    def name(r: dict[str, Any]) -> str | None:
        m = re.search(r"'/([^'/]+)'\s*\)\]$", str(r.get("name", "")))
        return m.group(1) if m else None

    resources = [r for d in docs.values() for r in d.get("resources") or []]
    trigger = next((name(r) for r in resources if str(r.get("type", "")).lower().endswith("/triggers")
                    and name(r)), None)
    pipeline = next((n for r in resources if str(r.get("type", "")).lower().endswith("/pipelines")
                     and (n := name(r)) and f'"referenceName": "{n}"' not in text and f"/pipelines/{n}'" not in text
                     and f'"{n}"' not in text), None)
    files = dict(snap.files)
    for path, doc in docs.items():
        kept = []
        for r in doc.get("resources") or []:
            if pipeline and name(r) == pipeline and str(r.get("type", "")).lower().endswith("/pipelines"):
                continue
            if trigger and name(r) == trigger and str(r.get("type", "")).lower().endswith("/triggers"):
                r = json.loads(json.dumps(r))
                r["properties"]["annotations"] = [*(r["properties"].get("annotations") or []), "edited"]
            kept.append(r)
        doc["resources"] = kept
        files[prefix + path] = json.dumps(doc).encode()
    return CommitSnapshot("e" * 40, files, ref="refs/heads/adf_publish"), trigger, pipeline
