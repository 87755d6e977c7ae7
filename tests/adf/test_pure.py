"""Loader, parameters, rendering and planning: pure, no network."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shared.adf.loader import TemplateLoadError, load_factory
from shared.adf.parameters import ParameterError, rendering_values, resolve_parameters
from shared.adf.plan import LiveFactory, PlanOptions, build_plan, definition_changes
from shared.adf.template import Evaluator, Secure, render_objects
from shared.git.snapshot import CommitSnapshot

from .helpers import (
    CORPUS_FACTORIES,
    base_resources,
    corpus_snapshot,
    execute_pipeline,
    res,
    sched,
    schedule_trigger,
    snapshot_of,
    template,
    tumbling_trigger,
)


def _desired(tpl: dict[str, Any], config: dict[str, Any] | None = None) -> list[Any]:
    rp = resolve_parameters(tpl, {}, factory_name="test-factory", config_values=config or {"ls_blob_sasToken": "s"})
    return render_objects(tpl, rendering_values(tpl, rp))


def _live_from(desired: list[Any], started: set[str] = frozenset()) -> LiveFactory:
    live: dict[str, list[dict[str, Any]]] = {}
    for o in desired:
        props = json.loads(json.dumps(o.properties, default=str))
        if o.object_type == "trigger":
            props["runtimeState"] = "Started" if o.name in started else "Stopped"
        live.setdefault(o.object_type, []).append({"name": o.name, "properties": props})
    return (live and LiveFactory(live)) or LiveFactory()


def test_expressions_and_escapes() -> None:
    ev = Evaluator({"factoryName": "f1", "n": 3, "arr": [1, 2]}, {"v": "[concat('x-', parameters('factoryName'))]"})
    assert ev.value("[concat(parameters('factoryName'), '/p1')]") == "f1/p1"
    assert ev.value("[[not an expression]") == "[not an expression]"
    assert ev.value("[variables('v')]") == "x-f1"
    assert ev.value("[parameters('arr')[1]]") == 2
    assert ev.value("[concat('it''s ', string(parameters('n')))]") == "it's 3"
    assert ev.value("plain [text]") == "plain [text]"
    assert ev.value("[resourceId('Microsoft.Resources/deployments', 'd1')]").endswith(
        "/providers/Microsoft.Resources/deployments/d1")
    assert isinstance(Evaluator({"s": Secure("s")}).value("[concat('a', parameters('s'))]"), Secure)


def test_missing_parameter_is_named_and_types_checked() -> None:
    tpl = template(base_resources(), {"retries": {"type": "int"}, "flag": {"type": "bool", "defaultValue": False}})
    with pytest.raises(ParameterError) as exc:
        resolve_parameters(tpl, {"ls_blob_sasToken": {"value": ""}}, factory_name="f")
    assert exc.value.code == "missing_parameter"
    assert set(exc.value.details["missing"]) == {"ls_blob_sasToken", "retries"}
    with pytest.raises(ParameterError) as exc2:
        resolve_parameters(tpl, {}, factory_name="f", config_values={"ls_blob_sasToken": "topsecret",
                                                                     "retries": "three", "flag": 1})
    assert "retries" in exc2.value.message and "flag" in exc2.value.message
    assert "topsecret" not in exc2.value.message


def test_parameter_layers_secure_values_redacted_and_kv_references() -> None:
    tpl = template(base_resources(), {"retries": {"type": "int"}})
    snap = snapshot_of(tpl, extra={"params/test.json": json.dumps(
        {"parameters": {"retries": {"value": 2}, "kv_baseUrl": {"value": "https://kv-test.vault.azure.net/"}}}
    ).encode()})
    rp = resolve_parameters(tpl, {"retries": {"value": 1}}, factory_name="test-f", snapshot=snap,
                            parameters_file="params/test.json",
                            config_values={"retries": 5, "ls_blob_sasToken": {"reference": {
                                "keyVault": {"id": "/subscriptions/x/vaults/kv"}, "secretName": "sas"}}})
    assert rp.values["retries"] == 5 and rp.values["factoryName"] == "test-f"
    assert rp.values["kv_baseUrl"] == "https://kv-test.vault.azure.net/"
    assert rp.arm_parameters()["ls_blob_sasToken"] == {"reference": {"keyVault": {"id": "/subscriptions/x/vaults/kv"},
                                                                     "secretName": "sas"}}
    rp2 = resolve_parameters(tpl, {}, factory_name="f", config_values={"ls_blob_sasToken": "s3cr3t", "retries": 1})
    assert "s3cr3t" not in json.dumps(rp2.redacted())
    objs = render_objects(tpl, rendering_values(tpl, rp2))
    assert "s3cr3t" not in json.dumps([o.properties for o in objs], default=str)
    with pytest.raises(ParameterError):
        resolve_parameters(tpl, {}, factory_name="f", snapshot=snap, parameters_file="params/absent.json")


def test_render_names_and_types() -> None:
    objs = {o.key: o for o in _desired(template(base_resources()))}
    assert ("pipeline", "pl_parent") in objs and ("linkedService", "ls_kv") in objs
    assert objs[("linkedService", "ls_kv")].properties["typeProperties"]["baseUrl"] == "https://kv-dev.vault.azure.net/"


def test_first_plan_creates_everything_and_starts_source_started() -> None:
    desired = _desired(template(base_resources()))
    plan = build_plan(environment="test", commit="a" * 40, desired=desired, live=LiveFactory(),
                      options=PlanOptions())
    assert plan.counts()["create"] == 8
    assert sched(plan)["start_waves"] == [["tr_daily", "tr_hourly"]]
    assert plan.refused is None


def test_redeploy_is_noop_and_changes_detected_in_nested_arrays() -> None:
    desired = _desired(template(base_resources()))
    live = _live_from(desired, started={"tr_hourly", "tr_daily"})
    plan = build_plan(environment="t", commit="b" * 40, desired=desired, live=live, options=PlanOptions())
    assert not plan.has_changes, plan.to_json()
    # a trigger's pipeline parameter array changes: only that trigger is stopped and restarted
    resources = base_resources()
    resources[6] = res("triggers", "tr_daily", schedule_trigger("pl_parent", 24,
                                                                params={"mode": "full", "days": [2, 1]}))
    plan2 = build_plan(environment="t", commit="c" * 40, desired=_desired(template(resources)), live=live,
                       options=PlanOptions())
    assert [a.name for a in plan2.of("update")] == ["tr_daily"]
    assert sched(plan2)["stop_waves"] == [["tr_daily"]] and sched(plan2)["start_waves"] == [["tr_daily"]]
    all_plan = build_plan(environment="t", commit="c" * 40, desired=_desired(template(resources)), live=live,
                          options=PlanOptions(stop_triggers="all"))
    assert sorted(sched(all_plan)["stop_waves"][0]) == ["tr_daily", "tr_hourly"]


def test_time_zone_forms_of_the_same_instant_are_equal() -> None:
    a = schedule_trigger("p")
    b = json.loads(json.dumps(a))
    b["typeProperties"]["recurrence"]["startTime"] = "2024-01-01T00:00:00.0000000"
    a["typeProperties"]["recurrence"]["startTime"] = "2024-01-01T00:00:00Z"
    assert definition_changes(a, b) == []
    b["typeProperties"]["recurrence"]["interval"] = True  # bool is not the int 1
    assert definition_changes(a, b) == ["typeProperties.recurrence.interval"]


def test_delete_order_callers_first_key_vault_last() -> None:
    desired = _desired(template(base_resources()))
    live = _live_from(desired, started={"tr_hourly"})
    plan = build_plan(environment="t", commit="d" * 40, desired=[*desired[:0], desired[0]], live=live,
                      options=PlanOptions())
    waves = [[(i["object_type"], i["name"]) for i in w] for w in sched(plan)["delete_waves"]]
    flat = [k for w in waves for k in w]
    assert flat.index(("trigger", "tr_hourly")) < flat.index(("pipeline", "pl_parent")) \
        < flat.index(("pipeline", "pl_child")) < flat.index(("dataset", "ds_raw")) \
        < flat.index(("linkedService", "ls_blob"))
    assert ("linkedService", "ls_kv") not in flat
    # every object deleted: refused unless forced
    everything = build_plan(environment="t", commit="d" * 40, desired=[], live=live, options=PlanOptions())
    assert everything.refused and "every object" in everything.refused
    assert build_plan(environment="t", commit="d" * 40, desired=[], live=live,
                      options=PlanOptions(force=True)).refused is None
    kv_last = [[k for k in w] for w in waves]
    assert kv_last


def test_tumbling_window_dependencies_and_replace() -> None:
    resources = [*base_resources(), res("triggers", "tw_c", tumbling_trigger("pl_child", depends_on=["tw_b"])), res("triggers", "tw_b", tumbling_trigger("pl_child", depends_on=["tw_a"])), res("triggers", "tw_a", tumbling_trigger("pl_child"))]
    desired = _desired(template(resources))
    plan = build_plan(environment="t", commit="e" * 40, desired=desired, live=LiveFactory(), options=PlanOptions())
    waves = sched(plan)["start_waves"]
    pos = {n: i for i, w in enumerate(waves) for n in w}
    assert pos["tw_a"] < pos["tw_b"] < pos["tw_c"]
    live = _live_from(desired, started={"tw_a", "tw_b", "tw_c", "tr_hourly", "tr_daily"})
    resources[-1] = res("triggers", "tw_a", tumbling_trigger("pl_child", frequency="Minute", interval=30))
    plan2 = build_plan(environment="t", commit="f" * 40, desired=_desired(template(resources)), live=live,
                       options=PlanOptions())
    assert sched(plan2)["replace"] == ["tw_a", "tw_b", "tw_c"]
    assert [a.name for a in plan2.of("replace")] == ["tw_a", "tw_b", "tw_c"]
    assert sched(plan2)["replace_waves"] == [["tw_c"], ["tw_b"], ["tw_a"]]
    assert sched(plan2)["start_waves"] == [["tw_a"], ["tw_b"], ["tw_c"]]


def test_pipeline_cycle_callers_before_callees() -> None:
    resources = [res("pipelines", "a", execute_pipeline("b")), res("pipelines", "b", execute_pipeline("c")),
                 res("pipelines", "c", {"activities": []}), res("pipelines", "keep", {"activities": []})]
    desired = _desired(template(resources))
    live = _live_from(desired)
    plan = build_plan(environment="t", commit="0" * 40, desired=[d for d in desired if d.name == "keep"],
                      live=live, options=PlanOptions())
    assert [[i["name"] for i in w] for w in sched(plan)["delete_waves"]] == [["a"], ["b"], ["c"]]


def test_loader_refuses_over_limits_and_names_other_factories() -> None:
    big = template([res("pipelines", f"p{i}", {"activities": []}) for i in range(801)])
    with pytest.raises(TemplateLoadError) as exc:
        load_factory(snapshot_of(big), None)
    assert exc.value.code == "template_over_limits" and "800" in exc.value.message
    many = template([], {f"p{i}": {"type": "string", "defaultValue": ""} for i in range(260)})
    with pytest.raises(TemplateLoadError, match="256"):
        load_factory(snapshot_of(many), None)
    with pytest.raises(TemplateLoadError) as exc2:
        load_factory(snapshot_of(template([]), folder="factoryA"), None)
    assert "factoryA" in exc2.value.message


def test_linked_only_templates_are_combined(tmp_path: Path) -> None:
    resources = base_resources()
    master = {"parameters": {**template([])["parameters"], "containerUri": {"type": "string"},
                             "containerSasToken": {"type": "string"}},
              "variables": {"factoryId": "[concat('Microsoft.DataFactory/factories/', parameters('factoryName'))]"},
              "resources": [{"name": f"f_ArmTemplate_{i}", "type": "Microsoft.Resources/deployments",
                             "properties": {"mode": "incremental", "templateLink": {
                                 "uri": f"[concat(parameters('containerUri'), '/ArmTemplate_{i}.json', "
                                        "parameters('containerSasToken'))]"}}} for i in range(2)]}
    files = {"linkedTemplates/ArmTemplate_master.json": json.dumps(master).encode(),
             "linkedTemplates/ArmTemplate_0.json": json.dumps(template(resources[:4])).encode(),
             "linkedTemplates/ArmTemplate_1.json": json.dumps(template(resources[4:])).encode()}
    ft = load_factory(CommitSnapshot("9" * 40, files), None)
    assert ft.layout == "linked" and len(ft.resources) == 8
    assert "containerUri" not in ft.template["parameters"]


@pytest.mark.parametrize(("folder", "factory_dir"), CORPUS_FACTORIES)
def test_corpus_loads_renders_and_plans(corpus: Path, folder: str, factory_dir: str) -> None:
    snap = corpus_snapshot(corpus / "adf" / folder)
    ft = load_factory(snap, factory_dir)
    try:
        resolve_parameters(ft.template, ft.parameter_values, factory_name="f")
        fill: dict[str, Any] = {}
    except ParameterError as exc:
        assert exc.code == "missing_parameter"
        fill = {n: "x" for n in exc.details["missing"]}
    rp = resolve_parameters(ft.template, ft.parameter_values, factory_name="corpus-f", config_values=fill)
    desired = render_objects(ft.template, rendering_values(ft.template, rp))
    assert desired
    plan = build_plan(environment="t", commit=snap.sha, desired=desired, live=LiveFactory(), options=PlanOptions())
    assert plan.counts().get("create") == len({o.key for o in desired})
    again = build_plan(environment="t", commit=snap.sha, desired=desired, live=_live_from(desired),
                       options=PlanOptions(start_triggers="previous"))
    assert not again.has_changes
