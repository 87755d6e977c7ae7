"""What a stop or a start changes: pure functions of the observed resources and the ledger's memory.

* A stop changes every managed, running, not excluded resource, and its
  *restore set* is what it stopped plus whatever an earlier stop stopped that
  has not been restored yet (so two stops in a row still restore everything).
* A start changes exactly the restore set of the latest stop, and nothing
  else: a trigger that was already stopped before the stop stays stopped.
  Entries already running are left alone; entries that no longer exist are
  reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .resources import Exclusion, Resource, excluded_by


@dataclass(frozen=True, order=True)
class RestoreEntry:
    """One resource a stop changed, to be started again."""

    type: str
    id: str
    name: str

    def to_json(self) -> dict[str, str]:
        return {"type": self.type, "id": self.id, "name": self.name}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> RestoreEntry:
        return cls(str(d["type"]), str(d["id"]), str(d.get("name") or d["id"]))

    @classmethod
    def of(cls, r: Resource) -> RestoreEntry:
        return cls(r.type, r.id, r.name)


@dataclass(frozen=True)
class Change:
    action: str  # stop | start
    resource: Resource

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "type": self.resource.type, "id": self.resource.id,
                "name": self.resource.name, "state": self.resource.state}


@dataclass(frozen=True)
class LeftAlone:
    type: str
    id: str
    name: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"type": self.type, "id": self.id, "name": self.name, "reason": self.reason}


@dataclass(frozen=True)
class TogglePlan:
    """The plan of one environment stop or start (plain data; dry-run prints it)."""

    environment: str
    action: str
    changes: tuple[Change, ...] = ()
    left_alone: tuple[LeftAlone, ...] = ()
    carried: tuple[RestoreEntry, ...] = ()  # stop: still to restore from earlier stops
    restores: str | None = None  # start: id of the stop activity being restored
    problems: tuple[str, ...] = field(default=())  # a resource type that could not be listed

    def to_json(self) -> dict[str, Any]:
        return {"environment": self.environment, "action": self.action,
                "changes": [c.to_json() for c in self.changes],
                "left_alone": [x.to_json() for x in self.left_alone],
                "carried": [c.to_json() for c in self.carried], "restores": self.restores,
                "problems": list(self.problems)}


def plan_stop(environment: str, observed: Mapping[str, list[Resource]], exclusions: Iterable[Exclusion],
              carried: Iterable[RestoreEntry] = (), problems: Iterable[str] = ()) -> TogglePlan:
    """Stop every managed, running, not excluded resource."""
    rules = list(exclusions)
    changes: list[Change] = []
    left: list[LeftAlone] = []
    for _type, items in sorted(observed.items()):
        for r in sorted(items, key=lambda x: (x.name, x.id)):
            if not r.managed:
                left.append(LeftAlone(r.type, r.id, r.name, r.note or "not managed by schedules"))
            elif not r.running:
                left.append(LeftAlone(r.type, r.id, r.name, f"already {r.state.lower() or 'stopped'}"))
            elif (rule := excluded_by(r, rules)) is not None:
                left.append(LeftAlone(r.type, r.id, r.name, f"excluded by {rule}"))
            else:
                changes.append(Change("stop", r))
    stopping = {c.resource.ref for c in changes}
    keep = tuple(sorted(e for e in set(carried) if (e.type, e.id) not in stopping))
    return TogglePlan(environment, "stop", tuple(changes), tuple(left), keep, problems=tuple(problems))


def plan_start(environment: str, observed: Mapping[str, list[Resource]], restore: Iterable[RestoreEntry],
               restores: str | None, problems: Iterable[str] = ()) -> TogglePlan:
    """Start exactly the restore set: what the stop(s) changed and nothing else."""
    index = {r.ref: r for items in observed.values() for r in items}
    listed = set(observed)
    changes: list[Change] = []
    left: list[LeftAlone] = []
    for e in sorted(set(restore)):
        r = index.get((e.type, e.id))
        if r is None:
            if e.type in listed:
                left.append(LeftAlone(e.type, e.id, e.name, "no longer exists"))
            # else: its type could not be listed now; it stays in the restore set (see problems)
            continue
        if r.running:
            left.append(LeftAlone(e.type, e.id, e.name, "already running"))
        else:
            changes.append(Change("start", r))
    return TogglePlan(environment, "start", tuple(changes), tuple(left), restores=restores,
                      problems=tuple(problems))
