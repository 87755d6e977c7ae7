"""Triggers: which to stop before the deployment, which to start after it, and in what order.

``stop_triggers: changed`` stops started triggers that change, are replaced,
are removed, or (with ``start_triggers: source``) are ``Stopped`` in source;
``all`` stops every started trigger. ``start_triggers: source`` starts every
trigger ``Started`` in source that will not be running; ``previous`` restarts
exactly what the run stopped. Names are matched case-insensitively; the
desired spelling is used when there is one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...deploy.model import PlannedAction
from .order import Key, start_waves
from .reconcile import Pairing
from .schedule import TriggerRow

EVENT_TRIGGER_TYPES = frozenset({"BlobEventsTrigger", "CustomEventsTrigger"})


@dataclass
class TriggerPlan:
    rows: list[TriggerRow] = field(default_factory=list)
    actions: list[PlannedAction] = field(default_factory=list)
    stop_waves: list[list[str]] = field(default_factory=list)
    start_waves: list[list[str]] = field(default_factory=list)
    replace_waves: list[list[str]] = field(default_factory=list)
    unsubscribe: list[str] = field(default_factory=list)
    previously_started: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Triggers:
    """Trigger definitions by lower-case name, and the name each is called by."""

    live: dict[str, Mapping[str, Any]]
    desired: dict[str, Mapping[str, Any]]
    names: dict[str, str]

    @classmethod
    def of(cls, pairing: Pairing) -> _Triggers:
        live = {k[1].lower(): (o.get("properties") or {}) for k, o in pairing.live.items() if k[0] == "trigger"}
        names = {k[1].lower(): k[1] for k in pairing.live if k[0] == "trigger"}
        desired: dict[str, Mapping[str, Any]] = {}
        for k, obj in pairing.desired.items():
            if k[0] == "trigger":
                desired[k[1].lower()] = obj.properties
                names[k[1].lower()] = k[1]
        return cls(live, desired, names)


def _stops(t: _Triggers, opts: Any, changed: set[str], replaced: set[str], deleted: set[str]) -> dict[str, str]:
    """Lower-case name -> reason, for every started trigger that must stop."""
    out: dict[str, str] = {}
    for n in sorted(t.live):
        if t.live[n].get("runtimeState") != "Started":
            continue
        if opts.stop_triggers == "all":
            out[n] = "stop_triggers: all"
        elif n in changed or n in replaced:
            out[n] = "definition changes"
        elif n in deleted:
            out[n] = "removed from source"
        elif opts.start_triggers == "source" and n in t.desired \
                and t.desired[n].get("runtimeState", "Stopped") != "Started":
            out[n] = "Stopped in source"
    return out


def _starts(t: _Triggers, opts: Any, stop: Mapping[str, str], replaced: set[str]) -> set[str]:
    started = {n for n, p in t.live.items() if p.get("runtimeState") == "Started"}
    out: set[str] = set()
    for n, props in t.desired.items():
        will_be_stopped = n not in t.live or n in stop or n in replaced or n not in started
        if opts.start_triggers == "source":
            if props.get("runtimeState") == "Started" and will_be_stopped:
                out.add(n)
        elif n in stop or (n in replaced and n in started):
            out.add(n)  # previous: put back what was running, nothing else
    return out


def _rows(t: _Triggers, stop: Mapping[str, str], start: set[str], replaced: set[str], plan: TriggerPlan) -> None:
    for n in sorted(set(t.live) | set(t.desired), key=lambda x: t.names[x]):
        act = "stop+start" if n in stop and n in start else "start" if n in start else \
            "stop" if n in stop else "leave"
        props = t.desired.get(n) or t.live.get(n) or {}
        name = t.names[n]
        plan.rows.append(TriggerRow(name, props.get("type"), t.live.get(n, {}).get("runtimeState"),
                                    t.desired[n].get("runtimeState") if n in t.desired else None,
                                    act, n in replaced, stop.get(n, ""), props.get("type") in EVENT_TRIGGER_TYPES))
        for a in (("stop", "start") if act == "stop+start" else (act,)):
            plan.actions.append(PlannedAction(a, "trigger", name, stop.get(n, "") if a == "stop" else ""))


def plan_triggers(pairing: Pairing, opts: Any, *, changed: set[str], replaced: set[str],
                  deletes: list[Key]) -> TriggerPlan:
    """Stops, starts and their waves, from the paired triggers and the object diff."""
    t = _Triggers.of(pairing)
    low_changed, low_replaced = {n.lower() for n in changed}, {n.lower() for n in replaced}
    deleted = {n.lower() for typ, n in deletes if typ == "trigger"}
    stop = _stops(t, opts, low_changed, low_replaced, deleted)
    start = _starts(t, opts, stop, low_replaced)
    plan = TriggerPlan()
    _rows(t, stop, start, low_replaced, plan)
    defs = {t.names[n]: p for n, p in {**t.live, **t.desired}.items()}
    plan.start_waves, plan.warnings = start_waves(sorted(t.names[n] for n in start), defs)
    live_defs = {t.names[n]: t.live[n] for n in t.live}
    stop_w, _ = start_waves(sorted(t.names[n] for n in stop), live_defs)
    plan.stop_waves = stop_w[::-1]  # dependents stop before what they depend on
    plan.replace_waves = start_waves(sorted(t.names[n] for n in low_replaced), live_defs)[0][::-1]
    plan.unsubscribe = sorted(t.names[n] for n in stop if t.live[n].get("type") in EVENT_TRIGGER_TYPES)
    plan.previously_started = sorted(t.names[n] for n, p in t.live.items() if p.get("runtimeState") == "Started")
    return plan
