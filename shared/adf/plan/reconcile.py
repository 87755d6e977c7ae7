"""Reconcile: pair each desired object with its live counterpart.

Data Factory names are case-insensitive: ``PL_Load`` in the template and
``pl_load`` in the factory are one object (a rename that changes only case
is an update of it, never a create plus a delete of what was just deployed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..template import DesiredObject
from .order import Key, ci


@dataclass
class LiveFactory:
    """The observed factory: object_type -> objects as REST JSON ({name, properties})."""

    objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def by_key(self) -> dict[Key, dict[str, Any]]:
        return {(t, str(o.get("name"))): o for t, objs in self.objects.items() for o in objs}


@dataclass
class Pairing:
    """Desired and live objects keyed by their (type, name) as written, paired case-insensitively."""

    desired: dict[Key, DesiredObject]  # by the desired key
    live: dict[Key, dict[str, Any]]  # by the live key
    live_of: dict[Key, Key]  # desired key -> live key (absent: a create)
    removed: list[Key]  # live keys with no desired counterpart
    warnings: list[str]

    def live_props(self, key: Key) -> Mapping[str, Any] | None:
        """The live ``properties`` of a desired object, or None when it does not exist yet."""
        lk = self.live_of.get(key)
        return None if lk is None else (self.live[lk].get("properties") or {})


def reconcile(desired: list[DesiredObject], live: LiveFactory) -> Pairing:
    """Pair desired objects with live ones by type and case-insensitive name."""
    warnings: list[str] = []
    desired_by_key: dict[Key, DesiredObject] = {}
    seen: dict[Key, Key] = {}
    for obj in desired:
        prev = seen.get(ci(obj.key))
        if prev is not None:
            warnings.append(f"{obj.object_type} {obj.name} is declared twice; the last one wins"
                            if prev == obj.key else f"{obj.object_type} {obj.name} and {prev[1]} are one object "
                            "(Data Factory names are case-insensitive); the last one wins")
            desired_by_key.pop(prev, None)
        seen[ci(obj.key)] = obj.key
        desired_by_key[obj.key] = obj
    live_by_key = live.by_key()
    live_ci = {ci(k): k for k in live_by_key}
    live_of = {k: live_ci[ci(k)] for k in desired_by_key if ci(k) in live_ci}
    paired = set(live_of.values())
    removed = sorted(k for k in live_by_key if k not in paired)
    return Pairing(desired_by_key, live_by_key, live_of, removed, warnings)
