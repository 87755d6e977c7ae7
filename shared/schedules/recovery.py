"""Write-ahead records of environment stops and starts, and finishing one whose worker died mid-way.

Before a stop or start changes anything, :func:`write_ahead` records its activity with status
``in_progress``: every change it is about to make (``intent``) and, for a stop, the restore set it
*plans* (everything it is about to stop plus what earlier stops still hold), for a start what is
still to restore (nothing assumed done yet). The same activity gets its final status, outcomes and
actual restore set when the action ends (:meth:`EnvironmentControl._record`).

A worker killed in between (SIGKILL, host recycle) leaves the record ``in_progress``. The next holder
of the environment's locks (the next stop or start: the timer retries an ``in_progress`` action, as
it retries a ``partial`` one; a manual one over HTTP or the CLI does the same) runs
:func:`finish_interrupted` first. It **finishes** what the record says, it does not undo it: the
schedule (or the person) asked for that state, and a start that follows restores everything a
finished stop stopped, the resources changed before the crash included. Finishing observes the
resources again; an intended change already in effect counts as done (``attempts: 0``), the others
are applied with the usual retries, and the record is completed: final status, outcomes, restore set
(stop) or what remains (start), ``recovered_by`` and ``recovered_at``.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

from ..audit import Activity
from . import drift
from .plan import Change, RestoreEntry, TogglePlan

if TYPE_CHECKING:
    from .control import EnvironmentControl, Outcome

log = logging.getLogger(__name__)

IN_PROGRESS = "in_progress"
LOOK_BACK = 5  # the latest records of each kind checked for one left in progress


def write_ahead(control: EnvironmentControl, plan: TogglePlan, *, key: str, actor: str | None,
                reason: str | None, trigger: str, extra: dict[str, Any] | None) -> Activity:
    """Record what the action is about to change, before it changes anything (raises when it cannot)."""
    from .control import KIND, _restore_after

    data: dict[str, Any] = {"trigger": trigger, "reason": reason, "intent": [c.to_json() for c in plan.changes],
                            "left_alone": [x.to_json() for x in plan.left_alone],
                            "problems": list(plan.problems), **(extra or {})}
    if plan.action == "stop":
        data["restore"] = [e.to_json() for e in _restore_after(plan, [])]
    else:
        _, pending = control.pending_restore()
        data["restores"] = plan.restores
        data["remaining"] = [e.to_json() for e in pending]
    activity, _ = control.ledger.record_activity(Activity(
        environment=control.name, kind=KIND[plan.action], key=key, at=control.clock.now(), actor=actor,
        status=IN_PROGRESS, summary=f"{plan.action} {control.name}: {len(plan.changes)} change(s) in progress",
        data=data))
    return activity


def interrupted(control: EnvironmentControl) -> list[Activity]:
    """Stops and starts of this environment left ``in_progress`` (oldest first)."""
    from .control import KIND

    found = [a for kind in KIND.values()
             for a in control.ledger.list_activity(control.name, kind=kind, limit=LOOK_BACK).items
             if a.status == IN_PROGRESS]
    return sorted(found, key=lambda a: a.at)


def finish_interrupted(control: EnvironmentControl, holder: str) -> list[Activity]:
    """Finish every interrupted stop/start (the caller holds the environment's locks)."""
    done = []
    for record in interrupted(control):
        log.warning("environment %s: %s %s was left in progress by a worker that died; finishing it",
                    control.name, record.kind, record.id)
        done.append(_finish(control, record, holder))
    return done


def _finish(control: EnvironmentControl, record: Activity, holder: str) -> Activity:
    from .control import Outcome, _status

    action = "stop" if record.kind.endswith("_stop") else "start"
    observed, problems = control.observe()
    index = {r.ref: r for rs in observed.values() for r in rs}
    listed = set(observed)
    already: list[Outcome] = []
    changes: list[Change] = []
    for item in record.data.get("intent") or []:
        ref = (str(item["type"]), str(item["id"]))
        r = index.get(ref)
        if r is None:
            if ref[0] in listed:  # gone meanwhile: nothing left to change
                already.append(Outcome(action, ref[0], ref[1], str(item.get("name") or ref[1]), "succeeded", 0,
                                       None))
            else:
                already.append(Outcome(action, ref[0], ref[1], str(item.get("name") or ref[1]), "failed", 0,
                                       f"{ref[0]} could not be listed"))
            continue
        if (action == "stop") == r.running:
            changes.append(Change(action, r))
        else:
            already.append(Outcome(action, r.type, r.id, r.name, "succeeded", 0))
    outcomes = already + control._apply(tuple(changes))
    ok = {(o.type, o.id) for o in outcomes if o.status == "succeeded"}
    data = {**record.data, "outcomes": [o.to_json() for o in outcomes], "recovered_by": holder,
            "recovered_at": control.clock.now().isoformat(),
            "problems": [*(record.data.get("problems") or []), *problems]}
    intent = {(str(i["type"]), str(i["id"])) for i in record.data.get("intent") or []}
    if action == "stop":
        planned = [RestoreEntry.from_json(d) for d in record.data.get("restore") or []]
        data["restore"] = [e.to_json() for e in planned if (e.type, e.id) not in intent or (e.type, e.id) in ok]
        data["snapshot"] = drift.snapshot(observed, ok & intent)
    else:
        data["remaining"] = [d for d in record.data.get("remaining") or []
                             if (str(d["type"]), str(d["id"])) not in ok]
    status = _status(outcomes, ())
    changed = sum(o.status == "succeeded" for o in outcomes)
    summary = (f"{action} {control.name}: {changed} changed, {len(outcomes) - changed} failed "
               f"(finished by {holder} after its worker died)")
    final = dataclasses.replace(record, status=status, summary=summary[:2000], data=data)
    control.ledger.update_activity(final)
    return final
