"""Stop and start an environment, or toggle one ADF trigger: observe, plan, apply, record.

Used alike by the timer, the HTTP handlers and the CLI. An apply:

1. waits for the environment's locks (every component), so it never runs
   during a deployment (a dry-run takes no lock and changes nothing);
2. lists the configured resource types in parallel and plans (:mod:`.plan`);
3. applies the changes in parallel under a bound; a failed call is retried
   in rounds with backoff, and what still fails is reported (status
   ``partial`` or ``failed``), never dropped: the next start or stop (and the
   timer's retry) picks it up;
4. records one :class:`~shared.audit.Activity` (``environment_stop`` /
   ``environment_start`` / ``trigger_toggle``) with every resource's outcome;
   a stop or start writes it *ahead*, ``in_progress`` with what it is about to
   change, and completes it at the end; one left ``in_progress`` by a worker
   that died is finished by the next holder (:mod:`.recovery`).
   A stop's ``restore`` list is the exact set the next start brings back.
5. drift (:mod:`.drift`): a stop records a snapshot of what it leaves; the next
   start records what changed by hand in between as ``drift`` activities.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from .. import progress, telemetry
from ..audit import Activity, AuditLedger
from ..audit.keys import stamp
from ..clock import Clock
from ..config import Environment
from ..deploy.lock import EnvironmentLocks, LeaseLock, LockBusy
from ..errors import NotFound, Unavailable
from ..settings import Settings
from ..storage import StorageAccount
from ..telemetry import ContextPool as ThreadPoolExecutor  # tasks stay in the caller's trace
from . import drift, hold, recovery
from . import resource_types as _registered  # noqa: F401  (registers the four resource types)
from .plan import Change, LeftAlone, RestoreEntry, TogglePlan, plan_start, plan_stop
from .resources import Resource, ResourceRegistry, ResourceType, parse_exclusions, resource_types
from .targets import EnvironmentTargets

log = logging.getLogger(__name__)

KIND = {"stop": "environment_stop", "start": "environment_start"}


@dataclass
class Outcome:
    """What happened to one resource."""

    action: str
    type: str
    id: str
    name: str
    status: str  # succeeded | failed
    attempts: int = 1
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"action": self.action, "type": self.type, "id": self.id, "name": self.name,
                             "status": self.status, "attempts": self.attempts}
        if self.error:
            d["error"] = self.error
        return d


@dataclass(frozen=True)
class Handled:
    """Progress event ``resource``: one resource handled by a stop, start or toggle, as it happens
    (``retrying``: this attempt failed and another follows)."""

    at: str  # ISO 8601 UTC with Z
    environment: str
    outcome: Outcome
    retrying: bool = False
    attempts: int = 1  # how many attempts are allowed


@dataclass(frozen=True)
class Applying:
    """Progress event ``toggle``: a stop, start or toggle is about to apply ``count`` changes."""

    environment: str
    action: str
    count: int


@dataclass
class ToggleResult:
    environment: str
    action: str
    dry_run: bool
    plan: TogglePlan
    outcomes: list[Outcome] = field(default_factory=list)
    status: str = "planned"  # planned | succeeded | partial | failed
    activity_id: str | None = None
    restore: list[RestoreEntry] = field(default_factory=list)  # stop: the set the next start restores
    remaining: list[RestoreEntry] = field(default_factory=list)  # start: still to restore
    key: str | None = None  # the recorded activity's idempotency key

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def to_json(self) -> dict[str, Any]:
        return {"environment": self.environment, "action": self.action, "dry_run": self.dry_run,
                "status": self.status, "activity_id": self.activity_id, "plan": self.plan.to_json(),
                "outcomes": [o.to_json() for o in self.outcomes],
                "counts": {"changed": sum(o.status == "succeeded" for o in self.outcomes),
                           "failed": len(self.failed), "left_alone": len(self.plan.left_alone)},
                "restore": [e.to_json() for e in self.restore],
                "remaining": [e.to_json() for e in self.remaining]}


def _status(outcomes: list[Outcome], problems: tuple[str, ...]) -> str:
    failed = sum(o.status == "failed" for o in outcomes)
    if failed == 0 and not problems:
        return "succeeded"
    if failed and failed == len(outcomes):
        return "failed"
    return "partial"


class EnvironmentControl:
    """Stop, start, inspect one environment; toggle one of its ADF triggers."""

    def __init__(self, name: str, environment: Environment, *, settings: Settings, storage: StorageAccount,
                 ledger: AuditLedger, clock: Clock, registry: ResourceRegistry = resource_types,
                 targets: EnvironmentTargets | None = None, max_parallel: int = 16, attempts: int = 3,
                 retry_delay: float = 1.0, lock_timeout: float = 60.0) -> None:
        self.name = name
        self.environment = environment
        self.settings = settings
        self.storage = storage
        self.ledger = ledger
        self.clock = clock
        self.registry = registry
        self.targets = targets or EnvironmentTargets(name, environment, settings)
        self.max_parallel = max(1, max_parallel)
        self.attempts = max(1, attempts)
        self.retry_delay = retry_delay
        self.lock_timeout = lock_timeout
        schedule = environment.schedule
        self.resource_names = list(schedule.resources) if schedule else registry.names()
        self.exclusions = parse_exclusions(schedule.exclude if schedule else [])
        self._types: dict[str, ResourceType] | None = None
        self._observed: dict[str, list[Resource]] = {}  # what the last plan() saw
        self.unreachable: list[Unavailable] = []  # what the last observe() could not reach

    # --------------------------------------------------------------- observing
    def types(self) -> dict[str, ResourceType]:
        if self._types is None:
            built = {n: self.registry.build(n, self.targets) for n in self.resource_names}
            self._types = {n: t for n, t in built.items() if t is not None}
        return self._types

    def observe(self) -> tuple[dict[str, list[Resource]], tuple[str, ...]]:
        """Every configured resource type listed in parallel; a type that fails to list is a problem."""
        types = self.types()
        observed: dict[str, list[Resource]] = {}
        problems: list[str] = []
        self.unreachable = []
        if not types:
            return observed, ()
        with ThreadPoolExecutor(max_workers=min(len(types), self.max_parallel)) as pool:
            futures = {n: pool.submit(t.list) for n, t in types.items()}
            for n, fut in futures.items():
                try:
                    observed[n] = fut.result()
                except Exception as exc:  # one unreachable service must not hide the others
                    problems.append(f"{n}: could not be listed ({_reason(exc)})")
                    if isinstance(exc, Unavailable):
                        self.unreachable.append(exc)
        return observed, tuple(problems)

    def _raise_if_nothing_listed(self, observed: dict[str, list[Resource]]) -> None:
        """Every resource type failed because its service is out of reach: that is the answer (Unavailable,
        one line per service and host), not an empty list."""
        if observed or not self.unreachable:
            return
        messages = list(dict.fromkeys(e.message for e in self.unreachable))
        raise Unavailable("; ".join(messages), code=self.unreachable[0].code,
                          details=[e.details for e in self.unreachable])

    def pending_restore(self) -> tuple[Activity | None, list[RestoreEntry]]:
        """The latest recorded stop and what of it is still to be started again (with what deployments
        held stopped meanwhile, :mod:`.hold`)."""
        stops = self.ledger.list_activity(self.name, kind=KIND["stop"], limit=1).items
        if not stops:
            return None, []
        stop = stops[0]
        starts = self.ledger.list_activity(self.name, kind=KIND["start"], limit=1).items
        if starts and starts[0].data.get("restores") == stop.id:
            base = [RestoreEntry.from_json(d) for d in starts[0].data.get("remaining") or []]
            added = hold.restore_additions(self.ledger, self.name, stop, after=starts[0].at)
        else:
            base = [RestoreEntry.from_json(d) for d in stop.data.get("restore") or []]
            added = hold.restore_additions(self.ledger, self.name, stop)
        return stop, sorted(set(base) | set(added))

    def stopped_since(self) -> Activity | None:
        """The latest stop when no start came after it (the environment is stopped), else None."""
        return hold.stop_in_effect(self.ledger, self.name)

    def drift_since_stop(self, observed: dict[str, list[Resource]]) -> tuple[Activity | None, list[drift.DriftChange]]:
        """What changed since the stop the environment is in (none when it is not stopped)."""
        stop = self.stopped_since()
        if stop is None or "snapshot" not in stop.data:
            return stop, []
        deployed = hold.held_by_deployments(self.ledger, self.name, stop)
        return stop, drift.changes(stop.data["snapshot"], observed, deployed)

    def plan(self, action: str) -> TogglePlan:
        observed, problems = self.observe()
        self._observed = observed
        stop, pending = self.pending_restore()
        if action == "stop":
            return plan_stop(self.name, observed, self.exclusions, pending, problems)
        if action == "start":
            return plan_start(self.name, observed, pending, stop.id if stop else None, problems)
        raise ValueError(f"unknown action {action!r}")

    def status(self, deployments: int = 5) -> dict[str, Any]:
        """What is running, what a stop is holding back, the schedule and the last deployments."""
        from .due import next_actions

        observed, problems = self.observe()
        self._raise_if_nothing_listed(observed)
        stop, pending = self.pending_restore()
        stopped, changed = self.drift_since_stop(observed)
        schedule = self.environment.schedule
        recent = self.ledger.list_many([self.name], limit=deployments).items
        recorded = [a for a in self.ledger.list_activity(self.name, kind="drift", limit=50).items
                    if a.data.get("component") == drift.COMPONENT][:20]
        return {
            "environment": self.name,
            "resources": {n: [r.to_json() for r in rs] for n, rs in sorted(observed.items())},
            "running": sum(r.running for rs in observed.values() for r in rs),
            "problems": list(problems),
            "unavailable": [e.message for e in self.unreachable],
            "stopped": None if stop is None else {
                "activity_id": stop.id, "at": stop.at.isoformat(), "actor": stop.actor,
                "trigger": stop.data.get("trigger"), "by_schedule": stop.data.get("trigger") == "schedule",
                "pending_restore": [e.to_json() for e in pending]},
            "schedule": None if schedule is None else {
                "time_zone": schedule.time_zone, "stop": schedule.stop, "start": schedule.start,
                "skip_dates": [d.isoformat() for d in schedule.skip_dates],
                "resources": list(schedule.resources), "exclude": list(schedule.exclude),
                "next": next_actions(self.name, schedule, self.clock.now())},
            "drift": {"since_stop": None if stopped is None else stopped.id,
                      "changes": [c.to_json() for c in changed],
                      "recorded": [{"id": a.id, "at": a.at.isoformat(), "summary": a.summary, **a.data}
                                   for a in recorded]},
            "last_deployments": [d.to_json(include_plan=False) for d in recent],
            "deployed": self.deployed(),
        }

    def deployed(self) -> dict[str, Any]:
        """The current deployed record of each component (shared/deploy/current.py)."""
        from ..deploy.components import COMPONENTS
        from ..deploy.current import deployed_in

        return deployed_in(self.storage, self.ledger, self.name, [c.name for c in COMPONENTS.present_in(
            self.environment)])

    # ----------------------------------------------------------------- acting
    def run(self, action: str, *, actor: str | None = None, reason: str | None = None, dry_run: bool = False,
            trigger: str = "manual", key: str | None = None, extra: dict[str, Any] | None = None) -> ToggleResult:
        """Stop or start the environment now (waiting for its locks), or only plan it (dry-run)."""
        if action not in KIND:
            raise ValueError(f"unknown action {action!r}")
        attrs = {"dataops.action": action, "dataops.dry_run": dry_run, "dataops.trigger": trigger}
        with telemetry.pipeline_run(action=telemetry.RUN, pipeline=f"dataops-environment-{action}",
                                    environment=self.name, run_id=key or f"{trigger}/{action}",
                                    attributes=attrs) as finish:
            if dry_run:
                plan = self.plan(action)
                finish("planned")
                return ToggleResult(self.name, action, True, plan, restore=_restore_after(plan, []))
            locks = EnvironmentLocks(self.storage, self.name)
            holder = f"schedule {action} ({actor or trigger})"
            if not locks.acquire(holder, self.lock_timeout):
                raise LockBusy(f"environment {self.name} is being deployed ({_holders(locks)}); "
                               f"{action} waited {self.lock_timeout:.0f}s")
            try:
                key = key or f"{trigger}/{action}/{stamp(self.clock.now())}/{uuid.uuid4().hex[:12]}"
                recovery.finish_interrupted(self, holder)  # a stop/start whose worker died: finish it first
                plan = self.plan(action)
                stopped, changed = self.drift_since_stop(self._observed) if action == "start" else (None, [])
                ahead = recovery.write_ahead(self, plan, key=key, actor=actor, reason=reason, trigger=trigger,
                                             extra=extra)
                outcomes = self._apply(plan.changes)
                result = self._result(plan, outcomes)
                self._record(result, actor=actor, reason=reason, trigger=trigger, key=key, extra=extra,
                             drifted=changed, ahead=ahead)
                if stopped is not None and changed:
                    self._record_drift(result, stopped, changed)
            finally:
                locks.release()
            finish(result.status)
            telemetry.count("schedule_actions", {telemetry.ENVIRONMENT: self.name}, action=action, trigger=trigger,
                            result=result.status)
            return result

    def _waves(self, changes: tuple[Change, ...]) -> list[list[Change]]:
        """Independent changes together; a type that orders its starts (ADF triggers: tumbling window
        dependencies first) spreads them over waves, the first of which runs with everything else."""
        types = self.types()
        waves: list[list[Change]] = [[]]
        ordered: dict[str, list[Change]] = {}
        for c in changes:
            if c.action == "start" and hasattr(types.get(c.resource.type), "start_waves"):
                ordered.setdefault(c.resource.type, []).append(c)
            else:
                waves[0].append(c)
        for type_name, items in ordered.items():
            by_ref = {c.resource.ref: c for c in items}
            for i, wave in enumerate(types[type_name].start_waves([c.resource for c in items])):  # type: ignore[attr-defined]
                while len(waves) <= i:
                    waves.append([])
                waves[i].extend(by_ref[r.ref] for r in wave)
        return [w for w in waves if w]

    def _apply(self, changes: tuple[Change, ...]) -> list[Outcome]:
        """Apply wave after wave; within a wave in parallel under the bound, failures retried in rounds
        with backoff. After a wave with a failed start, the later waves' starts of that type wait (as a
        deployment stops at a failed wave): they are reported failed and stay to be restored."""
        results: dict[tuple[str, str], Outcome] = {}
        blocked: dict[str, str] = {}  # resource type -> why its later starts wait
        if changes:
            progress.emit("toggle", Applying(self.name, changes[0].action, len(changes)))
        for wave in self._waves(changes):
            runnable = []
            for c in wave:
                r = c.resource
                if c.action == "start" and r.type in blocked:
                    results[r.ref] = self._handled(Outcome(c.action, r.type, r.id, r.name, "failed", 0,
                                                           blocked[r.type]))
                else:
                    runnable.append(c)
            results.update(self._apply_wave(runnable))
            failed = [c.resource for c in runnable if c.action == "start" and results[c.resource.ref].status == "failed"]
            for r in failed:
                blocked.setdefault(r.type, f"not started: an earlier wave did not start ({r.name})")
        return [results[c.resource.ref] for c in changes]

    def _apply_wave(self, changes: list[Change]) -> dict[tuple[str, str], Outcome]:
        types = self.types()
        results: dict[tuple[str, str], Outcome] = {}
        pending = list(changes)
        for attempt in range(1, self.attempts + 1):
            if not pending:
                break

            def one(change: Change, attempt: int = attempt) -> Outcome:
                r = change.resource
                try:
                    rtype = types[r.type]
                    (rtype.stop if change.action == "stop" else rtype.start)(r)
                    return self._handled(Outcome(change.action, r.type, r.id, r.name, "succeeded", attempt))
                except Exception as exc:  # recorded per resource; the others go on
                    log.warning("%s %s %s failed (attempt %d): %s", change.action, r.type, r.name, attempt,
                                _reason(exc))
                    return self._handled(Outcome(change.action, r.type, r.id, r.name, "failed", attempt,
                                                 _reason(exc)), retrying=attempt < self.attempts)

            with ThreadPoolExecutor(max_workers=min(self.max_parallel, len(pending))) as pool:
                for change, outcome in zip(pending, pool.map(one, pending), strict=True):
                    results[change.resource.ref] = outcome
            pending = [c for c in pending if results[c.resource.ref].status == "failed"]
            if pending and attempt < self.attempts:
                self.clock.sleep(self.retry_delay * 2 ** (attempt - 1))
        return results

    def _handled(self, outcome: Outcome, *, retrying: bool = False) -> Outcome:
        """Tell whoever watches (``-v``: the log; the CLI at a terminal: a line) that a resource is handled."""
        if outcome.status == "succeeded":
            log.info("%s: %s %s %s: succeeded (attempt %d)", self.name, outcome.action, outcome.type,
                     outcome.name, outcome.attempts)
        elif outcome.attempts == 0:  # not tried (an earlier wave did not start)
            log.warning("%s: %s %s %s: %s", self.name, outcome.action, outcome.type, outcome.name, outcome.error)
        if progress.active():
            at = self.clock.now().astimezone(UTC).isoformat().replace("+00:00", "Z")
            progress.emit("resource", Handled(at, self.name, outcome, retrying, self.attempts))
        return outcome

    def _result(self, plan: TogglePlan, outcomes: list[Outcome]) -> ToggleResult:
        result = ToggleResult(self.name, plan.action, False, plan, outcomes, _status(outcomes, plan.problems))
        if plan.action == "stop":
            result.restore = _restore_after(plan, outcomes)
        else:
            done = {(o.type, o.id) for o in outcomes if o.status == "succeeded"}
            settled = {(x.type, x.id) for x in plan.left_alone}
            _, pending = self.pending_restore()
            result.remaining = sorted(e for e in pending if (e.type, e.id) not in done | settled)
        return result

    def _record(self, result: ToggleResult, *, actor: str | None, reason: str | None, trigger: str,
                key: str | None, extra: dict[str, Any] | None, drifted: list[drift.DriftChange],
                ahead: Activity | None = None) -> None:
        """The final record; with ``ahead`` (the write-ahead record of this action) that record completed."""
        now = self.clock.now()
        key = key or f"{trigger}/{result.action}/{stamp(now)}/{uuid.uuid4().hex[:12]}"
        changed = sum(o.status == "succeeded" for o in result.outcomes)
        summary = (f"{result.action} {self.name}: {changed} changed, {len(result.failed)} failed, "
                   f"{len(result.plan.left_alone)} left alone")
        data: dict[str, Any] = {
            "trigger": trigger, "reason": reason, "outcomes": [o.to_json() for o in result.outcomes],
            "left_alone": [x.to_json() for x in result.plan.left_alone],
            "problems": list(result.plan.problems), **(extra or {})}
        if result.action == "stop":
            data["restore"] = [e.to_json() for e in result.restore]
            stopped = {(o.type, o.id) for o in result.outcomes if o.status == "succeeded"}
            data["snapshot"] = drift.snapshot(self._observed, stopped)
        else:
            data["restores"] = result.plan.restores
            data["remaining"] = [e.to_json() for e in result.remaining]
            data["drift"] = [c.to_json() for c in drifted]
        if ahead is not None:
            data["intent"] = ahead.data.get("intent") or []
            activity = dataclasses.replace(ahead, status=result.status, summary=summary, data=data)
            self.ledger.update_activity(activity)
        else:
            activity, _ = self.ledger.record_activity(Activity(
                environment=self.name, kind=KIND[result.action], key=key, at=now, actor=actor,
                status=result.status, summary=summary, data=data))
        result.activity_id = activity.id
        result.key = key

    def _record_drift(self, result: ToggleResult, stop: Activity, changed: list[drift.DriftChange]) -> None:
        """One ``drift`` activity per resource changed by hand while the environment was stopped."""
        now = self.clock.now()
        for c in changed:
            self.ledger.record_activity(Activity(
                environment=self.name, kind="drift", key=f"{result.key}/drift/{c.type}/{c.id}", at=now,
                actor=None, status=c.change,
                summary=f"{c.type} {c.name} was {c.change} while {self.name} was stopped "
                        f"(since {stop.at.isoformat()})",
                data={"component": drift.COMPONENT, **c.to_json(), "stop": stop.id,
                      "start": result.activity_id}))

    # --------------------------------------------------------- single triggers
    def trigger(self, name: str) -> Resource:
        """One ADF trigger as observed now; 404 when the environment has no factory or no such trigger."""
        rtype = self._trigger_type()
        for r in rtype.list():
            if r.name == name:
                return r
        raise NotFound(f"environment {self.name} has no ADF trigger {name!r}", code="unknown_trigger")

    def list_triggers(self) -> list[Resource]:
        return self._trigger_type().list()

    def _trigger_type(self) -> ResourceType:
        rtype = self.registry.build("adf_triggers", self.targets)
        if rtype is None:
            raise NotFound(f"environment {self.name} has no data_factory configured", code="no_data_factory")
        return rtype

    def toggle_trigger(self, name: str, action: str, *, actor: str | None = None, reason: str | None = None,
                       dry_run: bool = False) -> ToggleResult:
        """Start or stop one ADF trigger (waiting for the environment's adf lock), recorded as a toggle."""
        if action not in KIND:
            raise ValueError(f"unknown action {action!r}")
        r = self.trigger(name)
        if (action == "stop" and r.running) or (action == "start" and not r.running):
            plan = TogglePlan(self.name, action, (Change(action, r),))
        else:
            plan = TogglePlan(self.name, action, (), (LeftAlone(r.type, r.id, r.name, f"already {r.state}"),))
        if dry_run:
            return ToggleResult(self.name, action, True, plan)
        with telemetry.pipeline_run(action=telemetry.RUN, pipeline=f"dataops-trigger-{action}", environment=self.name,
                                    run_id=f"trigger/{name}/{action}", attributes={"dataops.adf.trigger": name}
                                    ) as finish:
            result = self._toggle_trigger(name, action, r, plan, actor, reason)
            finish(result.status)
            return result

    def _toggle_trigger(self, name: str, action: str, r: Resource, plan: TogglePlan, actor: str | None,
                        reason: str | None) -> ToggleResult:
        lock = LeaseLock(self.storage, self.name, "adf")
        if not lock.acquire(f"trigger {action} ({actor or 'manual'})", self.lock_timeout):
            raise LockBusy(f"environment {self.name} is being deployed (adf locked by "
                           f"{lock.current_holder()})")
        try:
            outcomes = self._apply(plan.changes)
        finally:
            lock.release()
        result = ToggleResult(self.name, action, False, plan, outcomes, _status(outcomes, ()))
        now = self.clock.now()
        activity, _ = self.ledger.record_activity(Activity(
            environment=self.name, kind="trigger_toggle",
            key=f"manual/trigger/{name}/{action}/{stamp(now)}/{uuid.uuid4().hex[:12]}", at=now, actor=actor,
            status=result.status, summary=f"{action} trigger {name}: {result.status}",
            data={"trigger": name, "action": action, "reason": reason, "state_before": r.state,
                  "outcomes": [o.to_json() for o in outcomes],
                  "left_alone": [x.to_json() for x in plan.left_alone]}))
        result.activity_id = activity.id
        return result


def _restore_after(plan: TogglePlan, outcomes: list[Outcome]) -> list[RestoreEntry]:
    """A stop's restore set: what it stopped (or, planned, would stop) plus what was still pending."""
    if plan.action != "stop":
        return []
    if outcomes:
        stopped = {(o.type, o.id) for o in outcomes if o.status == "succeeded"}
        mine = [RestoreEntry.of(c.resource) for c in plan.changes if c.resource.ref in stopped]
    else:
        mine = [RestoreEntry.of(c.resource) for c in plan.changes]
    return sorted(set(mine) | set(plan.carried))


def _holders(locks: EnvironmentLocks) -> str:
    try:
        held = {c: h for c, h in locks.holders().items() if h}
    except Exception:  # describing the holder is best effort
        return "locked"
    return ", ".join(f"{c} locked by {h}" for c, h in held.items()) or "locked"


def _reason(exc: BaseException) -> str:
    """A one-line error text for the audit (SDK errors carry no credentials in their message)."""
    text = str(getattr(exc, "message", None) or exc).splitlines()
    return (f"{type(exc).__name__}: {text[0]}" if text and text[0] else type(exc).__name__)[:500]
