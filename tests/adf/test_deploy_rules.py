"""Deploy rules real Azure enforces, end to end against the strict ARM stand-in (HTTPS, official SDKs)."""

from __future__ import annotations

import json
from typing import Any

from .helpers import base_resources, res, sched, snapshot_of, template, tumbling_trigger
from .test_deploy import _ctx, _deploy


def test_tumbling_start_time_change_deploys_by_recreating(arm_standin: Any, arm_factory_name: str) -> None:
    """#17.5: ADF refuses a startTime update in place (TumblingWindowTriggerStartTimeUpdateNotAllowed)."""
    arm_standin.create_factory(arm_factory_name)
    tw = tumbling_trigger("pl_child")
    _, r1 = _deploy(_ctx(arm_standin, arm_factory_name, snapshot_of(template([*base_resources(),
                                                                              res("triggers", "tw", tw)]))))
    assert r1.status == "succeeded", r1.error
    moved = json.loads(json.dumps(tw))
    moved["typeProperties"]["startTime"] = "2024-03-01T00:00:00Z"
    plan, r2 = _deploy(_ctx(arm_standin, arm_factory_name,
                            snapshot_of(template([*base_resources(), res("triggers", "tw", moved)]), sha="2" * 40)))
    assert r2.status == "succeeded", (r2.error, r2.error_details)
    assert sched(plan)["replace"] == ["tw"]
    live = arm_standin.get_object(arm_factory_name, "triggers", "tw")
    assert live["properties"]["typeProperties"]["startTime"] == "2024-03-01T00:00:00Z"
    assert arm_standin.trigger_state(arm_factory_name, "tw") == "Started"


def test_case_only_rename_keeps_the_object(arm_standin: Any, arm_factory_name: str) -> None:
    """#17.6: renaming pl_child to PL_Child (references too) must not delete what was just deployed."""
    arm_standin.create_factory(arm_factory_name)
    _, r1 = _deploy(_ctx(arm_standin, arm_factory_name, snapshot_of(template(base_resources()))))
    assert r1.status == "succeeded", r1.error
    renamed = json.loads(json.dumps(base_resources()).replace("pl_child", "PL_Child"))
    plan, r2 = _deploy(_ctx(arm_standin, arm_factory_name, snapshot_of(template(renamed), sha="3" * 40)))
    assert r2.status == "succeeded", (r2.error, r2.error_details)
    assert plan.deletes == []
    assert [n.lower() for n in arm_standin.names(arm_factory_name, "pipelines")].count("pl_child") == 1
    again, r3 = _deploy(_ctx(arm_standin, arm_factory_name, snapshot_of(template(renamed), sha="4" * 40)))
    assert r3.status == "succeeded", (r3.error, r3.error_details)
    assert again.deletes == [] and not again.has_changes, again.to_json()["actions"]
