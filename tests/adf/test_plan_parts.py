"""The planner in parts (reconcile, diff, prune, triggers, waves) and its typed apply schedule: pure."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.adf.parameters import rendering_values, resolve_parameters
from shared.adf.plan import ApplySchedule, LiveFactory, PlanOptions, ScheduleError, build_plan, reconcile
from shared.adf.template import render_objects

from .helpers import base_resources, res, sched, template, tumbling_trigger


def _desired(tpl: dict[str, Any]) -> list[Any]:
    rp = resolve_parameters(tpl, {}, factory_name="f", config_values={"ls_blob_sasToken": "s"})
    return render_objects(tpl, rendering_values(tpl, rp))


def _live(desired: list[Any], started: set[str] = frozenset(), rename: dict[str, str] | None = None) -> LiveFactory:
    live: dict[str, list[dict[str, Any]]] = {}
    for o in desired:
        props = json.loads(json.dumps(o.properties, default=str))
        if o.object_type == "trigger":
            props["runtimeState"] = "Started" if o.name in started else "Stopped"
        name = (rename or {}).get(o.name, o.name)
        live.setdefault(o.object_type, []).append({"name": name, "properties": props})
    return LiveFactory(live)


def _plan(desired: list[Any], live: LiveFactory, **opts: Any) -> Any:
    return build_plan(environment="t", commit="a" * 40, desired=desired, live=live, options=PlanOptions(**opts))


def test_schedule_is_typed_and_round_trips() -> None:
    desired = _desired(template(base_resources()))
    plan = _plan(desired, LiveFactory())
    schedule = ApplySchedule.of_plan(plan)
    assert schedule.deployment_name == "t-aaaaaaaa"
    assert schedule.start_waves == (("tr_daily", "tr_hourly"),)
    assert {r.name: r.action for r in schedule.triggers}["tr_paused"] == "leave"
    assert ApplySchedule.from_json(json.loads(json.dumps(schedule.to_json()))) == schedule
    for bad in (None, {"deployment_name": 3}, {"deployment_name": "x", "stop_waves": [[1]]},
                {"deployment_name": "x", "surprise": []}, {"deployment_name": "x", "version": 99},
                {"deployment_name": "x", "delete_waves": [[{"name": "a"}]]}):
        with pytest.raises(ScheduleError):
            ApplySchedule.from_json(bad)


def test_case_only_rename_is_an_update_not_a_delete() -> None:
    """#17.6: PL_Child in the template is the live pl_child; nothing is deleted, the rename is an update."""
    desired = _desired(template(base_resources()))
    live = _live(desired, started={"tr_hourly", "tr_daily"}, rename={"pl_child": "PL_CHILD", "tr_hourly": "TR_Hourly"})
    pairing = reconcile(desired, live)
    assert pairing.removed == []
    plan = _plan(desired, live)
    assert plan.deletes == [] and not plan.has_changes
    assert "case-insensitive" in next(a.reason for a in plan.actions if a.name == "pl_child")
    # a trigger renamed only in case and changed is stopped and started under one name, never deleted
    changed = json.loads(json.dumps(base_resources()))
    changed[5]["properties"]["typeProperties"]["recurrence"]["interval"] = 7
    plan2 = _plan(_desired(template(changed)), live)
    assert plan2.deletes == [] and [a.name for a in plan2.of("update")] == ["tr_hourly"]
    assert sched(plan2)["stop_waves"] == [["tr_hourly"]] and sched(plan2)["start_waves"] == [["tr_hourly"]]
    # two desired objects differing only in case are one object
    dup = _desired(template([*base_resources(), res("pipelines", "PL_PARENT", {"activities": []})]))
    assert any("case-insensitive" in w for w in _plan(dup, LiveFactory()).warnings)


def test_tumbling_start_time_change_is_a_replace_with_dependents() -> None:
    """#17.5: startTime cannot be updated in place, like frequency and interval."""
    tw_a, tw_b = tumbling_trigger("pl_child"), tumbling_trigger("pl_child", depends_on=["tw_a"])
    resources = [*base_resources(), res("triggers", "tw_a", tw_a), res("triggers", "tw_b", tw_b)]
    desired = _desired(template(resources))
    live = _live(desired, started={"tw_a", "tw_b", "tr_hourly", "tr_daily"})
    moved = json.loads(json.dumps(tw_a))
    moved["typeProperties"]["startTime"] = "2024-06-01T00:00:00Z"
    plan = _plan(_desired(template([*base_resources(), res("triggers", "tw_a", moved),
                                    res("triggers", "tw_b", tw_b)])), live)
    assert sched(plan)["replace"] == ["tw_a", "tw_b"]
    assert "startTime" in plan.of("replace")[0].reason
    # the same instant written differently is no change
    same = json.loads(json.dumps(tw_a))
    same["typeProperties"]["startTime"] = "2024-01-01T00:00:00.0000000Z"
    assert not _plan(_desired(template([*base_resources(), res("triggers", "tw_a", same),
                                        res("triggers", "tw_b", tw_b)])), live).has_changes


def test_global_parameters_pruned_only_when_the_template_manages_them() -> None:
    """#17.4: a template without a globalparameters resource leaves the factory's global parameters alone."""
    desired = _desired(template(base_resources()))
    live = _live(desired)
    live.objects["globalParameter"] = [{"name": "default", "properties": {"env": {"type": "String", "value": "d"}}}]
    plan = _plan(desired, live)
    assert plan.deletes == []
    assert [(a.action, a.name) for a in plan.actions if a.object_type == "globalParameter"] == [("leave", "default")]
    # global parameters alone never make "deletes everything" true either
    everything = _plan([], live)
    assert everything.refused and ("globalParameter", "default") not in {
        (r["object_type"], r["name"]) for w in sched(everything)["delete_waves"] for r in w}
    # a template that declares them manages them: they are compared (and updated) like any object
    gp = res("globalparameters", "default", {"env": {"type": "String", "value": "t"}})
    plan2 = _plan(_desired(template([*base_resources(), gp])), live)
    assert [(a.action, a.name) for a in plan2.actions if a.object_type == "globalParameter"] == [("update", "default")]
