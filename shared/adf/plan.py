"""Desired factory objects vs the live factory -> a plan (pure: no I/O).

Objects: create / update / delete / unchanged (or leave, when deletes are
off). Triggers additionally get a runtime action: stop / start / leave, and
``replace`` for a tumbling window trigger whose frequency or interval
changed (ADF cannot update those in place). Comparisons are on normalized
JSON (nested objects and arrays compared fully, trigger schedule times
compared as instants, ``runtimeState`` compared separately, secure values
never compared or shown). Deletes and starts are ordered into waves of
independent operations.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..deploy.model import Plan, PlannedAction
from .template import DesiredObject, Secure

EVENT_TRIGGER_TYPES = frozenset({"BlobEventsTrigger", "CustomEventsTrigger"})
# delete phases, in order (SPEC 6): triggers, pipelines, data flows, datasets, linked services,
# integration runtimes, managed private endpoints; the rest after what may use them
DELETE_PHASES = ("trigger", "pipeline", "changeDataCapture", "dataflow", "dataset", "linkedService",
                 "credential", "integrationRuntime", "managedPrivateEndpoint", "globalParameter")
REFERENCE_TYPES = {
    "PipelineReference": "pipeline", "DatasetReference": "dataset", "LinkedServiceReference": "linkedService",
    "DataFlowReference": "dataflow", "IntegrationRuntimeReference": "integrationRuntime",
    "TriggerReference": "trigger", "CredentialReference": "credential",
}
# service-maintained properties that are not part of a definition
# (read-only: integration runtime state, managed network ids, private endpoint provisioning)
IGNORED_PROPERTIES = frozenset({"runtimeState", "lastPublishTime", "state", "alias", "vNetId",
                                "provisioningState", "connectionState", "isReserved"})
_ISO = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?)(\.\d+)?(Z|[+-]00:00)?$")


@dataclass
class PlanOptions:
    stop_triggers: str = "changed"  # changed | all
    start_triggers: str = "source"  # source | previous
    delete_removed: bool = True
    force: bool = False


@dataclass
class LiveFactory:
    """The observed factory: object_type -> objects as REST JSON ({name, properties})."""

    objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def by_key(self) -> dict[tuple[str, str], dict[str, Any]]:
        return {(t, str(o.get("name"))): o for t, objs in self.objects.items() for o in objs}


# ------------------------------------------------------------------ comparing
def _norm_time(value: str) -> str:
    m = _ISO.match(value)
    if not m:
        return value
    base = m.group(1) if len(m.group(1)) > 16 else m.group(1) + ":00"
    frac = (m.group(2) or "").rstrip("0").rstrip(".")
    return base + frac


def normalize(value: Any, key: str = "") -> Any:
    """Canonical JSON for comparison: no nulls, times as instants, secure markers kept."""
    if isinstance(value, dict):
        return {k: normalize(v, k) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if isinstance(value, str) and key in ("startTime", "endTime"):
        return _norm_time(value)
    return value


def diff_paths(desired: Any, live: Any, path: str = "", out: list[str] | None = None,
               limit: int = 20) -> list[str]:
    """Paths where ``desired`` and ``live`` differ (values never included: they may be secret)."""
    out = [] if out is None else out
    if len(out) >= limit or isinstance(desired, Secure):
        return out
    if isinstance(desired, dict) and isinstance(live, dict):
        for k in sorted(set(desired) | set(live), key=str):
            if not path and k in IGNORED_PROPERTIES:
                continue
            diff_paths(desired.get(k), live.get(k), f"{path}.{k}" if path else str(k), out, limit)
    elif isinstance(desired, list) and isinstance(live, list):
        if len(desired) != len(live):
            out.append(f"{path}[length {len(live)} -> {len(desired)}]")
        else:
            for i, (d, lv) in enumerate(zip(desired, live, strict=True)):
                diff_paths(d, lv, f"{path}[{i}]", out, limit)
    elif isinstance(live, dict) and isinstance(live.get("value"), str) and live.get("type") == "SecureString" \
            and isinstance(desired, dict) and set(desired) == set(live):
        pass  # the service masks secrets it returns; nothing to compare
    elif desired != live or isinstance(desired, bool) != isinstance(live, bool):
        out.append(path or "(root)")
    return out


def definition_changes(desired: Mapping[str, Any], live: Mapping[str, Any] | None) -> list[str]:
    """Changed property paths between a desired and a live definition (``properties`` of each)."""
    return diff_paths(normalize(dict(desired)), normalize(dict(live or {})))


# ---------------------------------------------------------------- references
def references(props: Any) -> set[tuple[str, str]]:
    """(object_type, name) of every object a definition refers to by ``referenceName``."""
    found: set[tuple[str, str]] = set()
    stack = [props]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            ref, rtype = v.get("referenceName"), v.get("type")
            if isinstance(ref, str) and rtype in REFERENCE_TYPES:
                found.add((REFERENCE_TYPES[rtype], ref))
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return found


def _levels(nodes: Iterable[tuple[str, str]], before: Mapping[tuple[str, str], set[tuple[str, str]]]
            ) -> tuple[list[list[tuple[str, str]]], list[tuple[str, str]]]:
    """Waves: a node goes after every node in ``before[node]`` (restricted to ``nodes``); cycles reported."""
    todo = set(nodes)
    waves: list[list[tuple[str, str]]] = []
    done: set[tuple[str, str]] = set()
    while todo:
        wave = sorted(n for n in todo if not ((before.get(n, set()) & todo) - {n}))
        if not wave:  # a cycle: put the rest in one last wave and say so
            cyc = sorted(todo)
            waves.append(cyc)
            return waves, cyc
        waves.append(wave)
        todo -= set(wave)
        done |= set(wave)
    return waves, []


def delete_waves(deletes: list[tuple[str, str]], live: Mapping[tuple[str, str], Mapping[str, Any]]
                 ) -> tuple[list[list[tuple[str, str]]], list[str]]:
    """Delete order: by phase (triggers ... managed private endpoints); inside a phase, referrers first
    (pipeline callers before callees, data flows before their flowlets, Key Vault linked services last)."""
    warnings: list[str] = []
    waves: list[list[tuple[str, str]]] = []
    phase_of = {t: i for i, t in enumerate(DELETE_PHASES)}
    by_phase: dict[int, list[tuple[str, str]]] = {}
    for key in deletes:
        by_phase.setdefault(phase_of.get(key[0], len(DELETE_PHASES)), []).append(key)
    for phase in sorted(by_phase):
        keys = by_phase[phase]
        keyset = set(keys)
        # X waits for every deleted object that refers to X
        before: dict[tuple[str, str], set[tuple[str, str]]] = {k: set() for k in keys}
        for k in keys:
            for ref in references((live.get(k) or {}).get("properties")):
                if ref in keyset and ref != k:
                    before[ref].add(k)
        # Key Vault linked services last among linked services: secrets of the others resolve through them
        kv = {k for k in keys if k[0] == "linkedService"
              and ((live.get(k) or {}).get("properties") or {}).get("type") == "AzureKeyVault"}
        for k in kv:
            before[k] |= keyset - kv
        phase_waves, cycle = _levels(keys, before)
        if cycle:
            warnings.append(f"reference cycle among deleted objects: {', '.join(n for _, n in cycle)}")
        waves.extend(phase_waves)
    return waves, warnings


def _tumbling_deps(props: Mapping[str, Any] | None) -> set[str]:
    tp = (props or {}).get("typeProperties") or {}
    out = set()
    for dep in tp.get("dependsOn") or []:
        ref = (dep or {}).get("referenceTrigger") or {}
        if ref.get("referenceName"):
            out.add(str(ref["referenceName"]))
    return out


def start_waves(names: Iterable[str], definitions: Mapping[str, Mapping[str, Any]]
                ) -> tuple[list[list[str]], list[str]]:
    """Start order: a tumbling window trigger after the triggers it depends on."""
    nodes = [("trigger", n) for n in names]
    before = {("trigger", n): {("trigger", d) for d in _tumbling_deps(definitions.get(n))} for n in names}
    waves, cycle = _levels(nodes, before)
    warn = [f"tumbling window dependency cycle: {', '.join(n for _, n in cycle)}"] if cycle else []
    return [[n for _, n in w] for w in waves], warn


# ---------------------------------------------------------------------- plan
def _replace_needed(desired: Mapping[str, Any], live: Mapping[str, Any] | None) -> bool:
    if not live or desired.get("type") != "TumblingWindowTrigger" or live.get("type") != "TumblingWindowTrigger":
        return False
    d, lv = desired.get("typeProperties") or {}, live.get("typeProperties") or {}
    return any(normalize(d.get(k)) != normalize(lv.get(k)) for k in ("frequency", "interval"))


def _replace_dependents(replaced: set[str], desired: Mapping[tuple[str, str], DesiredObject],
                        live: Mapping[tuple[str, str], Mapping[str, Any]], actions: list[PlannedAction]) -> None:
    """A trigger whose tumbling window dependency is replaced must be replaced too (it blocks the delete)."""
    grew = True
    while grew:
        grew = False
        for (t, n), obj in live.items():
            if t != "trigger" or n in replaced or ("trigger", n) not in desired:
                continue
            if _tumbling_deps(obj.get("properties")) & replaced:
                replaced.add(n)
                grew = True
                for i, a in enumerate(actions):
                    if a.object_type == "trigger" and a.name == n:
                        actions[i] = PlannedAction("replace", "trigger", n, "depends on a replaced tumbling "
                                                   "window trigger: deleted and recreated")


def build_plan(*, environment: str, commit: str, desired: list[DesiredObject], live: LiveFactory,
               options: PlanOptions, data: Mapping[str, Any] | None = None) -> Plan:
    """The plan: pure function of desired objects, the live factory and the options."""
    actions: list[PlannedAction] = []
    warnings: list[str] = []
    live_by_key = live.by_key()
    desired_by_key: dict[tuple[str, str], DesiredObject] = {}
    for obj in desired:
        if obj.key in desired_by_key:
            warnings.append(f"{obj.object_type} {obj.name} is declared twice; the last one wins")
        desired_by_key[obj.key] = obj

    changed_triggers: set[str] = set()
    replaced: set[str] = set()
    for key, obj in sorted(desired_by_key.items()):
        cur = live_by_key.get(key)
        if cur is None:
            actions.append(PlannedAction("create", obj.object_type, obj.name))
            continue
        changes = definition_changes(obj.properties, cur.get("properties"))
        if not changes:
            actions.append(PlannedAction("unchanged", obj.object_type, obj.name))
        elif obj.object_type == "trigger" and _replace_needed(obj.properties, cur.get("properties")):
            replaced.add(obj.name)
            actions.append(PlannedAction("replace", "trigger", obj.name, "tumbling window frequency/interval "
                                         "changed: deleted and recreated", {"changed": changes}))
        else:
            if obj.object_type == "trigger":
                changed_triggers.add(obj.name)
            actions.append(PlannedAction("update", obj.object_type, obj.name, details={"changed": changes}))

    removed = sorted(k for k in live_by_key if k not in desired_by_key)
    from .client import OBJECT_KINDS

    _replace_dependents(replaced, desired_by_key, live_by_key, actions)
    deletable = [k for k in removed if OBJECT_KINDS.get(k[0]) is None or OBJECT_KINDS[k[0]].deletable]
    deletes = deletable if options.delete_removed else []
    for k in removed:
        if k in deletes:
            actions.append(PlannedAction("delete", k[0], k[1], "not in the publish output"))
        else:
            why = "not in source; delete_removed is off" if options.delete_removed is False else \
                "not in source; cannot be deleted through the API"
            actions.append(PlannedAction("leave", k[0], k[1], why))

    refused = None
    live_deletable = [k for k in live_by_key if OBJECT_KINDS.get(k[0]) is None or OBJECT_KINDS[k[0]].deletable]
    if deletes and len(deletes) == len(live_deletable):
        msg = (f"the plan deletes every object of the factory ({len(deletes)}): wrong factory folder or "
               "template? Re-run with force to allow it")
        if options.force:
            warnings.append("forced: " + msg)
        else:
            refused = msg

    # ------------------------------------------------------------ triggers
    live_tr = {str(o.get("name")): (o.get("properties") or {}) for o in live.objects.get("trigger", [])}
    desired_tr = {o.name: o.properties for o in desired_by_key.values() if o.object_type == "trigger"}
    deleted_tr = {n for t, n in deletes if t == "trigger"}
    started = {n for n, p in live_tr.items() if p.get("runtimeState") == "Started"}
    stop: set[str] = set()
    reasons: dict[str, str] = {}
    for n in sorted(started):
        if options.stop_triggers == "all":
            stop.add(n)
            reasons[n] = "stop_triggers: all"
        elif n in changed_triggers or n in replaced:
            stop.add(n)
            reasons[n] = "definition changes"
        elif n in deleted_tr:
            stop.add(n)
            reasons[n] = "removed from source"
        elif options.start_triggers == "source" and n in desired_tr \
                and desired_tr[n].get("runtimeState", "Stopped") != "Started":
            stop.add(n)
            reasons[n] = "Stopped in source"
    start: set[str] = set()
    for n, props in desired_tr.items():
        will_be_stopped = n not in live_tr or n in stop or n in replaced or n not in started
        if options.start_triggers == "source":
            if props.get("runtimeState") == "Started" and will_be_stopped:
                start.add(n)
        elif n in stop or (n in replaced and n in started):
            start.add(n)  # previous: put back what was running, nothing else
    waves, warn = start_waves(sorted(start), {**live_tr, **desired_tr})
    warnings.extend(warn)
    stop_defs = {n: live_tr[n] for n in stop}
    stop_w, _ = start_waves(sorted(stop), stop_defs)
    stop_w.reverse()  # dependents stop before what they depend on
    trig_rows = []
    for n in sorted(set(live_tr) | set(desired_tr)):
        act = "start" if n in start else "stop" if n in stop and n not in start else "leave"
        if n in stop and n in start:
            act = "stop+start"
        props = desired_tr.get(n) or live_tr.get(n) or {}
        trig_rows.append({"name": n, "type": props.get("type"), "live_state": live_tr.get(n, {}).get("runtimeState"),
                          "desired_state": desired_tr[n].get("runtimeState") if n in desired_tr else None,
                          "action": act, "replace": n in replaced, "reason": reasons.get(n, ""),
                          "event": props.get("type") in EVENT_TRIGGER_TYPES})
        if act != "leave":
            for a in (("stop", "start") if act == "stop+start" else (act,)):
                actions.append(PlannedAction(a, "trigger", n, reasons.get(n, "") if a == "stop" else ""))
        else:
            actions.append(PlannedAction("leave", "trigger", n))
    dwaves, dwarn = delete_waves(deletes, live_by_key)
    warnings.extend(dwarn)
    plan_data = dict(data or {})
    plan_data.update({
        "triggers": trig_rows,
        "stop_waves": stop_w,
        "unsubscribe": sorted(n for n in stop if live_tr[n].get("type") in EVENT_TRIGGER_TYPES),
        "replace": sorted(replaced),
        "replace_waves": list(reversed(start_waves(sorted(replaced), live_tr)[0])),
        "start_waves": waves,
        "delete_waves": [[{"object_type": t, "name": n} for t, n in w] for w in dwaves],
        "stop_triggers": options.stop_triggers, "start_triggers": options.start_triggers,
        "previously_started": sorted(started),
    })
    return Plan("adf", environment, commit, tuple(actions), tuple(warnings), refused, plan_data)
