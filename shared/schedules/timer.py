"""What the schedule timer does each time it wakes (every minute).

1. Read the cursor (the end of the last window handled) from the state table;
   the window is ``(cursor, now]``, however long ago the cursor is (state,
   not events: a timer down for a weekend still applies Friday's stop). The
   first run ever looks back ``first_lookback`` only.
2. Work out the due actions (:mod:`.due`: at most one per environment, the
   latest, so a missed tick is caught up once). An action run more than
   ``CATCH_UP_AFTER`` after its time is recorded as a catch-up
   (``catch_up: {reason: "missed", late_by_s, since}``).
2b. On the first tick of a process (``starting``), environments with
   ``schedule.enforce_on_start`` get their latest due action applied again,
   whether or not it ran before (``catch_up.reason: "enforce_on_start"``),
   claimed once per (occurrence, app version + configuration): a fresh
   deployment converges, a plain restart or a new instance does not redo it.
3. Claim each (environment, action, scheduled time) with a conditional
   insert (:class:`shared.claims.Claims`): overlapping runs and scaled-out
   instances see the claim taken and do nothing.
4. Run the claimed actions, environments in parallel (each waits for its own
   locks). A run that could not happen (a deployment held the lock past the
   timeout, storage was unreachable) releases its claim and holds the cursor
   back, so the next tick tries again.
5. Retry: when an environment's latest stop/start ended ``partial`` or
   ``failed``, or was left ``in_progress`` by a worker that died, it is run again (claimed as ``<key>/retry-<n>``), up to
   ``max_attempts`` runs in all.
6. Move the cursor forward (only ever forward, under optimistic concurrency).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..audit import Activity, AuditLedger
from ..claims import Claims
from ..clock import Clock
from ..config import Environment, PlatformConfig
from ..errors import DataOpsError
from ..settings import Settings
from ..storage import StorageAccount
from ..storage_writes import create_entity, update_entity
from ..telemetry import ContextPool as ThreadPoolExecutor  # tasks stay in the caller's trace
from .control import KIND, EnvironmentControl
from .due import DueAction, due_in_window, latest_due

log = logging.getLogger(__name__)

CLAIM_SCOPE = "schedule"
CURSOR_PARTITION = "schedule-cursor"
CURSOR_ROW = "timer"

ControlFactory = Callable[[str, Environment], EnvironmentControl]

# An action run later than this after its scheduled time is a catch-up (the timer ticks every minute).
CATCH_UP_AFTER = timedelta(minutes=2)
# How far back enforce_on_start looks for the latest due action.
ENFORCE_LOOKBACK = timedelta(days=400)
_process_started = False  # set by the first run_once of this process (an app start)


def _build_fingerprint(name: str, environment: Environment) -> str:
    """The app version and the environment's configuration: what a deployment of the app changes."""
    from .. import __version__

    text = f"{__version__}\n{name}\n{environment.model_dump_json()}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass
class TickReport:
    """What one timer run did (logged by the function, asserted by tests)."""

    after: datetime
    until: datetime
    acted: list[dict[str, Any]] = field(default_factory=list)
    claimed_elsewhere: list[str] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    superseded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"after": self.after.isoformat(), "until": self.until.isoformat(), "acted": self.acted,
                "claimed_elsewhere": self.claimed_elsewhere, "failed": self.failed,
                "superseded": self.superseded, "skipped": self.skipped}


class ScheduleTimer:
    def __init__(self, config: PlatformConfig, *, settings: Settings, storage: StorageAccount,
                 ledger: AuditLedger, clock: Clock, control_factory: ControlFactory | None = None,
                 max_catch_up: timedelta | None = None,
                 first_lookback: timedelta = timedelta(minutes=2), max_attempts: int = 5,
                 lock_timeout: float = 240.0, max_parallel_environments: int = 4) -> None:
        self.config = config
        self.settings = settings
        self.storage = storage
        self.ledger = ledger
        self.clock = clock
        self.claims = Claims(storage)
        self.max_catch_up = max_catch_up
        self.first_lookback = first_lookback
        self.max_attempts = max_attempts
        self.lock_timeout = lock_timeout
        self.max_parallel_environments = max(1, max_parallel_environments)
        self.control_factory = control_factory or self._default_control

    def _default_control(self, name: str, environment: Environment) -> EnvironmentControl:
        bound = min([t.max_parallel for t in (environment.data_factory, environment.databricks) if t] or [16])
        return EnvironmentControl(name, environment, settings=self.settings, storage=self.storage,
                                  ledger=self.ledger, clock=self.clock, max_parallel=bound,
                                  lock_timeout=self.lock_timeout)

    # ------------------------------------------------------------------ cursor
    @property
    def _state(self) -> Any:
        return self.storage.table(self.storage.names.state_table)

    def cursor(self) -> datetime | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return datetime.fromisoformat(self._state.get_entity(CURSOR_PARTITION, CURSOR_ROW)["until"])
        except ResourceNotFoundError:
            return None

    def advance_cursor(self, until: datetime) -> None:
        """Move the cursor to ``until`` unless another run already moved it further."""
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError

        entity = {"PartitionKey": CURSOR_PARTITION, "RowKey": CURSOR_ROW, "until": until.isoformat()}
        for _ in range(10):
            try:
                current = self._state.get_entity(CURSOR_PARTITION, CURSOR_ROW)
            except ResourceNotFoundError:
                try:
                    create_entity(self._state, entity)
                    return
                except ResourceExistsError:
                    continue
            if datetime.fromisoformat(current["until"]) >= until:
                return
            try:
                update_entity(self._state, entity, etag=current.metadata["etag"])
                return
            except ResourceModifiedError:
                continue

    # --------------------------------------------------------------------- run
    def run_once(self, *, starting: bool | None = None) -> TickReport:
        """One timer tick (see the module docstring). ``starting``: the first tick of this app process
        (default: worked out per process)."""
        global _process_started
        if starting is None:
            starting, _process_started = not _process_started, True
        now = self.clock.now()
        cursor = self.cursor()
        after = cursor if cursor is not None else now - self.first_lookback
        if self.max_catch_up is not None:
            after = max(after, now - self.max_catch_up)
        report = TickReport(after, now)
        jobs: list[tuple[str, str, str, dict[str, Any]]] = []  # (env, action, claim key, extra)
        window_envs: set[str] = set()
        if after < now:
            schedules = {n: e.schedule for n, e in self.config.environments.items()}
            window = due_in_window(schedules, after, now)
            report.superseded = [d.key for d in window.superseded]
            report.skipped = [d.key for d in window.skipped]
            for due in window.due:
                extra = self._extra(due)
                extra["superseded"] = [d.key for d in window.superseded if d.environment == due.environment]
                if now - due.scheduled > CATCH_UP_AFTER:
                    extra["catch_up"] = {"reason": "missed", "late_by_s": int((now - due.scheduled).total_seconds()),
                                         "since": after.isoformat()}
                jobs.append((due.environment, due.action, due.key, extra))
            window_envs = {d.environment for d in window.due}
        if starting:
            jobs.extend(self._enforcements(now, skip=window_envs))
        scheduled_envs = {job[0] for job in jobs}
        for name in sorted(self.config.environments):
            if name not in scheduled_envs and (retry := self._retry_of(name)) is not None:
                jobs.append(retry)
        ok = True
        with ThreadPoolExecutor(max_workers=min(self.max_parallel_environments, max(1, len(jobs)))) as pool:
            for entry in pool.map(lambda job: self._run_job(*job), jobs):
                kind, item = entry
                if kind == "acted":
                    report.acted.append(item)
                elif kind == "elsewhere":
                    report.claimed_elsewhere.append(item["key"])
                else:
                    report.failed.append(item)
                    ok = False
        # A failed run holds the cursor back: its claim was released and the next tick retries it.
        self.advance_cursor(now if ok else after)
        return report

    @staticmethod
    def _extra(due: DueAction) -> dict[str, Any]:
        return {"schedule_key": due.key, "scheduled": due.scheduled.isoformat(),
                "scheduled_local": due.local.isoformat(), "attempt": 1}

    def _enforcements(self, now: datetime, skip: set[str]) -> list[tuple[str, str, str, dict[str, Any]]]:
        """enforce_on_start: the latest due action of each such environment, once per app build."""
        jobs: list[tuple[str, str, str, dict[str, Any]]] = []
        for name, environment in sorted(self.config.environments.items()):
            schedule = environment.schedule
            if schedule is None or not schedule.enforce_on_start or name in skip:
                continue
            due, _, _ = latest_due(name, schedule, now - ENFORCE_LOOKBACK, now)
            if due is None:
                continue
            build = _build_fingerprint(name, environment)
            extra = self._extra(due)
            extra["catch_up"] = {"reason": "enforce_on_start", "build": build,
                                 "late_by_s": int((now - due.scheduled).total_seconds())}
            jobs.append((name, due.action, f"{due.key}/enforce-{build}", extra))
        return jobs

    def _retry_of(self, name: str) -> tuple[str, str, str, dict[str, Any]] | None:
        """The environment's latest stop/start again, when it ended partial or failed."""
        latest: list[Activity] = []
        for kind in KIND.values():
            latest.extend(self.ledger.list_activity(name, kind=kind, limit=1).items)
        if not latest:
            return None
        last = max(latest, key=lambda a: a.at)
        attempt = int(last.data.get("attempt") or 1)
        # in_progress: its worker died mid-way (a running one holds the locks: the retry waits for them and
        # then finds it completed); the retry's run finishes it first (:mod:`.recovery`)
        if last.status not in ("partial", "failed", "in_progress") or attempt >= self.max_attempts:
            return None
        action = "stop" if last.kind == KIND["stop"] else "start"
        base = str(last.data.get("schedule_key") or f"{name}/{action}/{last.id}")
        extra: dict[str, Any] = {k: last.data[k] for k in ("scheduled", "scheduled_local") if k in last.data}
        extra.update({"schedule_key": base, "attempt": attempt + 1, "retry_of": last.id})
        return name, action, f"{base}/retry-{attempt + 1}", extra

    def _run_job(self, name: str, action: str, key: str, extra: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        won, _ = self.claims.claim(CLAIM_SCOPE, key, {"environment": name, "action": action},
                                   at=self.clock.now())
        if not won:
            return "elsewhere", {"key": key}
        try:
            control = self.control_factory(name, self.config.environments[name])
            result = control.run(action, actor="schedule", trigger="schedule", key=f"schedule/{key}",
                                 extra=extra)
        except Exception as exc:
            # Release so the next tick (the cursor is held back) claims and runs it again.
            log.warning("scheduled %s of %s (%s) did not run: %s", action, name, key, exc)
            try:
                self.claims.release(CLAIM_SCOPE, key)
            except Exception:
                log.exception("could not release schedule claim %s", key)
            message = exc.message if isinstance(exc, DataOpsError) else type(exc).__name__
            return "failed", {"key": key, "environment": name, "action": action, "error": message}
        return "acted", {"key": key, "environment": name, "action": action, "status": result.status,
                         "activity_id": result.activity_id}


def due_now(config: PlatformConfig, after: datetime, until: datetime) -> list[DueAction]:
    """The actions a timer run over ``(after, until]`` would take (for status pages and dry runs)."""
    return list(due_in_window({n: e.schedule for n, e in config.environments.items()}, after, until).due)
