"""Issue 23 item 6: an ADF deployment's results list in the order they happened (stop, update, start),
each with its time, not grouped by phase name (which read update, start, stop)."""

from __future__ import annotations

from typing import Any

from shared.audit.ledger import AuditLedger
from tests.adf.helpers import base_resources, res, schedule_trigger, snapshot_of, template
from tests.adf.test_deploy import _ctx, _deploy


def test_stop_update_start_in_the_order_they_happened(arm_standin: Any, arm_factory_name: str,
                                                      ledger: AuditLedger) -> None:
    arm_standin.create_factory(arm_factory_name)
    _, first = _deploy(_ctx(arm_standin, arm_factory_name, snapshot_of(template(base_resources()))))
    assert first.status == "succeeded", first.error
    changed = [r if r["name"] != "[concat(parameters('factoryName'), '/tr_hourly')]" else
               res("triggers", "tr_hourly", schedule_trigger("pl_parent", 2),
                   ["[concat(variables('factoryId'), '/pipelines/pl_parent')]"]) for r in base_resources()]
    ctx = _ctx(arm_standin, arm_factory_name, snapshot_of(template(changed), sha="2" * 40), ledger=ledger)
    _, result = _deploy(ctx)
    assert result.status == "succeeded", result.error
    objects = ledger.objects("dep-22222222")
    order = [o.action for o in objects if o.name == "tr_hourly"]
    assert order == ["stop", "update", "start"], [(o.action, o.name, o.at) for o in objects]
    stamps = [o.at for o in objects]
    assert all(s and s.endswith("Z") for s in stamps) and stamps == sorted(stamps)  # type: ignore[type-var]
