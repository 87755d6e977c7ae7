"""A deployment while the environment is stopped by its schedule deploys, but leaves triggers stopped.

Without this, an ADF deployment at night (``start_triggers: source``) started
the triggers again; the morning start found them "already running" and the
night stop was silently undone. The ADF deployer calls two hooks:

* :func:`hold_starts` on its plan: when the environment's latest stop/start is
  a stop *by the schedule* (and ``adf_triggers`` is one of its resources),
  every trigger the deployment would start, and every new trigger whose source
  says ``Started``, is held: its plan action is ``hold`` (not ``start``), the
  apply schedule's start waves leave it out, a warning says why and
  ``plan.data["schedule_hold"]`` lists it. Triggers excluded from the
  schedule (``schedule.exclude``) start as usual.
* :func:`record_hold` after the apply: a ``restore_added`` activity adds the
  held triggers to what the next start restores
  (:meth:`~shared.schedules.control.EnvironmentControl.pending_restore`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..audit.records import Activity
from ..deploy.model import Plan, PlannedAction
from .plan import RestoreEntry
from .resources import Resource, annotation_tags, excluded_by, parse_exclusions

if TYPE_CHECKING:
    from ..audit import AuditLedger
    from ..deploy.model import ApplyResult, DeployContext

STOP_KIND, START_KIND = "environment_stop", "environment_start"
RESTORE_ADDED = "restore_added"
TRIGGERS = "adf_triggers"


def stop_in_effect(ledger: AuditLedger, environment: str) -> Activity | None:
    """The latest stop when no start came after it (the environment is stopped), else None."""
    stops = ledger.list_activity(environment, kind=STOP_KIND, limit=1).items
    if not stops:
        return None
    starts = ledger.list_activity(environment, kind=START_KIND, limit=1).items
    if starts and (starts[0].at > stops[0].at or starts[0].data.get("restores") == stops[0].id):
        return None
    return stops[0]


def _additions(ledger: AuditLedger, environment: str, stop: Activity) -> list[Activity]:
    return [a for a in ledger.list_activity(environment, kind=RESTORE_ADDED, since=stop.at, limit=200).items
            if a.data.get("stop") == stop.id]


def restore_additions(ledger: AuditLedger, environment: str, stop: Activity, after: Any = None
                      ) -> list[RestoreEntry]:
    """Triggers deployments added to the restore set of ``stop`` (after ``after``, the last start's time)."""
    return [RestoreEntry.from_json(d) for a in _additions(ledger, environment, stop)
            if after is None or a.at > after for d in a.data.get("add") or []]


def held_by_deployments(ledger: AuditLedger, environment: str, stop: Activity) -> dict[tuple[str, str], str]:
    """(type, id) -> deployment id, for what deployments held stopped since ``stop``."""
    return {(str(d["type"]), str(d["id"])): str(a.deployment_id or a.data.get("commit") or "")
            for a in _additions(ledger, environment, stop) for d in a.data.get("add") or []}


def _definitions(desired: Iterable[Any], live: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    defs: dict[str, Mapping[str, Any]] = {}
    for obj in live:
        defs[str(obj.get("name", "")).lower()] = obj.get("properties") or {}
    for obj in desired:
        if getattr(obj, "object_type", None) == "trigger":
            defs[obj.name.lower()] = obj.properties
    return defs


def hold_starts(ctx: DeployContext, plan: Plan, desired: Iterable[Any] = (),
                live_triggers: Iterable[Mapping[str, Any]] = ()) -> Plan:
    """The plan with the starts held while the environment is stopped by its schedule (else unchanged)."""
    schedule = ctx.config.environments[ctx.environment].schedule
    if ctx.ledger is None or schedule is None or TRIGGERS not in schedule.resources:
        return plan
    stop = stop_in_effect(ctx.ledger, ctx.environment)
    if stop is None or stop.data.get("trigger") != "schedule" or "schedule" not in plan.data:
        return plan
    sched = dict(plan.data["schedule"])
    rules = parse_exclusions(schedule.exclude)
    defs = _definitions(desired, live_triggers)

    def held(name: str) -> bool:
        tags = annotation_tags((defs.get(name.lower()) or {}).get("annotations") or [])
        return excluded_by(Resource(TRIGGERS, name, name, "", True, False, tags=tags), rules) is None

    starting = [n for wave in sched.get("start_waves") or [] for n in wave]
    new_started = [r["name"] for r in sched.get("triggers") or []
                   if r.get("live_state") is None and r.get("desired_state") == "Started"]
    kept_stopped = {n for n in starting if held(n)}
    added = sorted(kept_stopped | {n for n in new_started if held(n)}, key=str.lower)
    if not added:
        return plan
    why = (f"{ctx.environment} is stopped by its schedule (since {stop.at.isoformat()}): left stopped, "
           "started by the next schedule start")
    sched["start_waves"] = [w for w in ([n for n in wave if n not in kept_stopped]
                                        for wave in sched.get("start_waves") or []) if w]
    rows = []
    for r in sched.get("triggers") or []:
        if r["name"] in kept_stopped:
            r = {**r, "action": "stop" if r.get("action") == "stop+start" else "leave",
                 "reason": r.get("reason") or f"held: {why}"}
        rows.append(r)
    sched["triggers"] = rows
    actions = [PlannedAction("hold", "trigger", a.name, why)
               if a.object_type == "trigger" and a.action == "start" and a.name in kept_stopped else a
               for a in plan.actions]
    actions += [PlannedAction("hold", "trigger", n, why) for n in added if n not in kept_stopped]
    warning = (f"environment {ctx.environment} is stopped by its schedule: {len(added)} trigger(s) left "
               f"stopped and added to what the next start restores ({', '.join(added)})")
    data = {**plan.data, "schedule": sched,
            "schedule_hold": {"stop": stop.id, "stopped_at": stop.at.isoformat(), "held": sorted(kept_stopped),
                              "restore_added": added}}
    return Plan(plan.component, plan.environment, plan.commit, tuple(actions), (*plan.warnings, warning),
                plan.refused, data)


def record_hold(ctx: DeployContext, plan: Plan, result: ApplyResult) -> None:
    """After an apply of a held plan: add the held triggers to what the next start restores."""
    hold = plan.data.get("schedule_hold")
    if ctx.dry_run or ctx.ledger is None or not hold:
        return
    added = [RestoreEntry(TRIGGERS, n, n).to_json() for n in hold["restore_added"]]
    ctx.ledger.record_activity(Activity(
        environment=ctx.environment, kind=RESTORE_ADDED, key=f"{ctx.deployment_id or plan.commit}/restore_added",
        at=ctx.clock.now(), actor=None, status=result.status, deployment_id=ctx.deployment_id,
        summary=(f"deployment of {plan.commit[:12]} left {len(added)} ADF trigger(s) stopped while "
                 f"{ctx.environment} is stopped by its schedule; the next start starts them"),
        data={"stop": hold["stop"], "add": added, "commit": plan.commit, "component": plan.component,
              "deployment_status": result.status}))
