"""Drift while an environment is stopped: what changed by hand between a stop and the next start.

A stop records a *snapshot*: every managed resource it saw, with whether it is
running once the stop is done (what it stopped successfully: not running).
The next start (and ``GET /api/environments/{env}`` meanwhile) compares the
resources observed then with that snapshot (pure):

* ``started``: not running at the stop, running now;
* ``stopped``: running at the stop (excluded, or failed to stop), not running now;
* ``created``: not there at the stop (marked ``by: deployment <id>`` when a
  deployment made while stopped created it, :mod:`.hold`);
* ``deleted``: there at the stop, gone now (only for types that could be listed).

The start records each change as a ``drift`` activity (``component:
schedules``) and lists them in its own record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .resources import Resource

COMPONENT = "schedules"


@dataclass(frozen=True, order=True)
class DriftChange:
    type: str
    id: str
    name: str
    change: str  # started | stopped | created | deleted
    state_at_stop: str | None
    state_now: str | None
    by: str | None = None  # "deployment <id>" when a deployment held it stopped (not a change by hand)

    def to_json(self) -> dict[str, Any]:
        d = {"type": self.type, "id": self.id, "name": self.name, "change": self.change,
             "state_at_stop": self.state_at_stop, "state_now": self.state_now}
        if self.by:
            d["by"] = self.by
        return d


def snapshot(observed: Mapping[str, list[Resource]], stopped: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
    """The stop's snapshot: managed resources and whether each runs once the stop is done."""
    done = set(stopped)
    out = []
    for _type, items in sorted(observed.items()):
        for r in sorted(items, key=lambda x: (x.name, x.id)):
            if not r.managed:
                continue
            running = r.running and r.ref not in done
            out.append({"type": r.type, "id": r.id, "name": r.name, "running": running,
                        "state": r.state if r.ref not in done else "stopped by schedule"})
    return out


def changes(before: Iterable[Mapping[str, Any]], observed: Mapping[str, list[Resource]],
            deployed: Mapping[tuple[str, str], str] | None = None) -> list[DriftChange]:
    """What differs between a stop's snapshot and the resources observed now. ``deployed``: resources a
    deployment created or held meanwhile (ref -> deployment id); their ``created`` is marked ``by``."""
    deployed = deployed or {}
    then = {(str(e["type"]), str(e["id"])): e for e in before}
    now = {r.ref: r for items in observed.values() for r in items if r.managed}
    out: list[DriftChange] = []
    for ref, r in now.items():
        e = then.get(ref)
        if e is None:
            by = f"deployment {deployed[ref]}" if ref in deployed else None
            out.append(DriftChange(r.type, r.id, r.name, "created", None, r.state, by))
        elif r.running and not e.get("running"):
            out.append(DriftChange(r.type, r.id, r.name, "started", e.get("state"), r.state))
        elif not r.running and e.get("running"):
            out.append(DriftChange(r.type, r.id, r.name, "stopped", e.get("state"), r.state))
    for ref, e in then.items():
        if ref not in now and ref[0] in observed:
            out.append(DriftChange(ref[0], ref[1], str(e.get("name") or ref[1]), "deleted", e.get("state"), None))
    return sorted(out)
