"""Diff: what happens to each desired object (create / update / unchanged / replace).

Some properties cannot change in place, so the object is deleted and
recreated (``replace``):

* a tumbling window trigger's ``frequency``, ``interval`` and ``startTime``
  (ADF answers ``TumblingWindowTriggerFrequencyOrIntervalUpdateNotAllowed`` /
  ``TumblingWindowTriggerStartTimeUpdateNotAllowed``), and with it every
  tumbling window trigger that depends on it (the dependency blocks the delete);
* a managed private endpoint with any change (ADF refuses to change one in
  place): planned as a ``delete`` (a one-way change: ``protect_deletes``
  counts it) before the deployment and a ``create`` by it. Only the
  properties the template states are compared (the service adds ``fqdns``
  and connection state); resource ids compare case-insensitively. Two
  endpoints to the same private-link resource and group are refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...deploy.model import PlannedAction
from ...errors import BadRequest
from .compare import IGNORED_PROPERTIES, definition_changes, normalize
from .order import Key, tumbling_deps
from .reconcile import Pairing

TUMBLING_IMMUTABLE = ("frequency", "interval", "startTime")


ENDPOINT = "managedPrivateEndpoint"


class PlanError(BadRequest):
    code = "invalid_plan"


@dataclass
class ObjectDiff:
    actions: list[PlannedAction] = field(default_factory=list)
    changed_triggers: set[str] = field(default_factory=set)  # desired names, updated in place
    replaced: set[str] = field(default_factory=set)  # desired names of triggers deleted and recreated
    recreate: list[Key] = field(default_factory=list)  # live keys of other objects deleted and recreated


def endpoint_changes(desired: Mapping[str, Any], live: Mapping[str, Any] | None) -> list[str]:
    """Changed properties of a managed private endpoint, over what the template states."""
    lv = live or {}
    out = []
    for k in sorted(desired):
        if k in IGNORED_PROPERTIES:
            continue
        d, cur = normalize(desired.get(k)), normalize(lv.get(k))
        if k == "privateLinkResourceId" and isinstance(d, str) and isinstance(cur, str):
            d, cur = d.lower(), cur.lower()
        if d != cur:
            out.append(k)
    return out


def check_endpoints(pairing: Pairing) -> None:
    """Refuse two desired managed private endpoints to one private-link resource and group."""
    seen: dict[tuple[str, str, str], str] = {}
    for key, obj in sorted(pairing.desired.items()):
        if key[0] != ENDPOINT:
            continue
        p = obj.properties
        target = (key[1].split("/", 1)[0].lower(), str(p.get("privateLinkResourceId") or "").lower(),
                  str(p.get("groupId") or "").lower())
        if target[1] and target in seen:
            raise PlanError(f"managed private endpoints {seen[target]} and {key[1]} both connect to "
                            f"{p.get('privateLinkResourceId')} (group {p.get('groupId')}): Data Factory allows "
                            "one managed private endpoint per private-link resource and group; keep one",
                            code="duplicate_private_endpoint")
        seen[target] = key[1]


def immutable_changes(desired: Mapping[str, Any], live: Mapping[str, Any] | None) -> list[str]:
    """The tumbling window properties that changed and cannot be updated in place."""
    if not live or desired.get("type") != "TumblingWindowTrigger" or live.get("type") != "TumblingWindowTrigger":
        return []
    d, lv = desired.get("typeProperties") or {}, live.get("typeProperties") or {}
    return [k for k in TUMBLING_IMMUTABLE if normalize(d.get(k), k) != normalize(lv.get(k), k)]


def _one(key: Key, pairing: Pairing, out: ObjectDiff) -> None:
    obj = pairing.desired[key]
    live_key = pairing.live_of.get(key)
    if live_key is None:
        out.actions.append(PlannedAction("create", obj.object_type, obj.name))
        return
    live_props = pairing.live_props(key)
    if obj.object_type == ENDPOINT:
        _endpoint(obj.properties, live_props, key, live_key, out)
        return
    changes = definition_changes(obj.properties, live_props)
    # the factory keeps the name as first created; a case-only rename changes nothing by itself
    case = f"live name {live_key[1]} (names are case-insensitive)" if live_key[1] != obj.name else ""
    immutable = immutable_changes(obj.properties, live_props) if obj.object_type == "trigger" else []
    if not changes:
        out.actions.append(PlannedAction("unchanged", obj.object_type, obj.name, case))
    elif immutable:
        out.replaced.add(obj.name)
        out.actions.append(PlannedAction("replace", "trigger", obj.name, f"tumbling window {'/'.join(immutable)} "
                                         "changed (cannot be updated in place): deleted and recreated",
                                         {"changed": changes}))
    else:
        if obj.object_type == "trigger":
            out.changed_triggers.add(obj.name)
        out.actions.append(PlannedAction("update", obj.object_type, obj.name, case, {"changed": changes}))


def _endpoint(desired: Mapping[str, Any], live: Mapping[str, Any] | None, key: Key, live_key: Key,
              out: ObjectDiff) -> None:
    changes = endpoint_changes(desired, live)
    if not changes:
        out.actions.append(PlannedAction("unchanged", ENDPOINT, key[1]))
        return
    out.recreate.append(live_key)
    why = f"{', '.join(changes)} changed: ADF cannot change a managed private endpoint in place"
    out.actions.append(PlannedAction("delete", ENDPOINT, live_key[1], why + "; deleted before the deployment",
                                     {"changed": changes, "recreate": True}))
    out.actions.append(PlannedAction("create", ENDPOINT, key[1], why + "; recreated by the deployment"))


def _replace_dependents(pairing: Pairing, out: ObjectDiff) -> None:
    """A trigger whose tumbling window dependency is replaced must be replaced too (it blocks the delete)."""
    triggers = {k[1]: k for k in pairing.desired if k[0] == "trigger" and k in pairing.live_of}
    grew = True
    while grew:
        grew = False
        replaced_lower = {n.lower() for n in out.replaced}
        for name, key in triggers.items():
            if name in out.replaced or not (tumbling_deps(pairing.live_props(key)) & replaced_lower):
                continue
            out.replaced.add(name)
            out.changed_triggers.discard(name)
            grew = True
            for i, a in enumerate(out.actions):
                if a.object_type == "trigger" and a.name == name:
                    out.actions[i] = PlannedAction("replace", "trigger", name, "depends on a replaced tumbling "
                                                   "window trigger: deleted and recreated", a.details)


def diff_objects(pairing: Pairing) -> ObjectDiff:
    """Per-object actions for every desired object, in (type, name) order."""
    check_endpoints(pairing)
    out = ObjectDiff()
    for key in sorted(pairing.desired):
        _one(key, pairing, out)
    _replace_dependents(pairing, out)
    return out
