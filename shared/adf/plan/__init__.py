"""Desired factory objects vs the live factory -> a plan (pure: no I/O).

In parts, each a pure function of the previous one's result:

* :mod:`.reconcile` pairs desired and live objects (case-insensitive names);
* :mod:`.diff` decides create / update / unchanged / replace per object
  (normalized JSON: :mod:`.compare`; immutable properties: replace);
* :mod:`.prune` decides delete / leave for live objects not in the template,
  and refuses a plan that empties the factory;
* :mod:`.triggers` decides stop / start / leave for triggers;
* :mod:`.order` orders deletes and starts into waves of independent operations.

The result is a :class:`~shared.deploy.model.Plan` whose ``data["schedule"]``
is the JSON form of a typed :class:`.schedule.ApplySchedule`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...deploy.model import Plan
from ..template import DesiredObject
from .compare import IGNORED_PROPERTIES, definition_changes, diff_paths, normalize
from .diff import PlanError, diff_objects
from .order import DELETE_PHASES, REFERENCE_TYPES, delete_waves, references, start_waves
from .prune import prune
from .reconcile import LiveFactory, Pairing, reconcile
from .schedule import ApplySchedule, ObjectRef, ScheduleError, TriggerRow
from .triggers import EVENT_TRIGGER_TYPES, plan_triggers

__all__ = ["DELETE_PHASES", "EVENT_TRIGGER_TYPES", "IGNORED_PROPERTIES", "REFERENCE_TYPES", "ApplySchedule",
           "LiveFactory", "ObjectRef", "Pairing", "PlanError", "PlanOptions", "ScheduleError", "TriggerRow", "build_plan",
           "definition_changes", "delete_waves", "diff_paths", "normalize", "reconcile", "references",
           "start_waves"]


@dataclass
class PlanOptions:
    stop_triggers: str = "changed"  # changed | all
    start_triggers: str = "source"  # source | previous
    delete_removed: bool = True
    force: bool = False


def build_plan(*, environment: str, commit: str, desired: list[DesiredObject], live: LiveFactory,
               options: PlanOptions, data: Mapping[str, Any] | None = None,
               deployment_name: str | None = None, deployment_waves: list[list[str]] | None = None) -> Plan:
    """The plan: pure function of desired objects, the live factory and the options."""
    pairing = reconcile(desired, live)
    objects = diff_objects(pairing)
    pruning = prune(pairing, delete_removed=options.delete_removed, force=options.force)
    trig = plan_triggers(pairing, options, changed=objects.changed_triggers, replaced=objects.replaced,
                         deletes=pruning.deletes)
    dwaves, dwarn = delete_waves(pruning.deletes, pairing.live)
    name = deployment_name or str((data or {}).get("deployment_name") or f"{environment}-{commit[:8]}")
    schedule = ApplySchedule(
        deployment_name=name,
        stop_waves=_tuples(trig.stop_waves), unsubscribe=tuple(trig.unsubscribe),
        replace=tuple(sorted(objects.replaced)), replace_waves=_tuples(trig.replace_waves),
        start_waves=_tuples(trig.start_waves),
        recreate=tuple(ObjectRef(t, n) for t, n in objects.recreate),
        delete_waves=tuple(tuple(ObjectRef(t, n) for t, n in w) for w in dwaves),
        deployments=_tuples(deployment_waves or []),
        triggers=tuple(trig.rows), stop_triggers=options.stop_triggers, start_triggers=options.start_triggers,
        previously_started=tuple(trig.previously_started))
    actions = objects.actions + pruning.actions + trig.actions
    warnings = pairing.warnings + pruning.warnings + trig.warnings + dwarn
    plan_data = {**dict(data or {}), "deployment_name": name, "schedule": schedule.to_json()}
    return Plan("adf", environment, commit, tuple(actions), tuple(warnings), pruning.refused, plan_data)


def _tuples(waves: list[list[str]]) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(w) for w in waves)
