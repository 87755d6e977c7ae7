"""Running one deployment request: lock -> load commit -> supersede check -> plan -> gates -> apply -> record.

The orchestrator is the same for the queue worker and the CLI. It is open for
the promotion/approval/rollback/window features:

* **gates** run after the plan is stored and before anything changes; a gate
  may hold the deployment (``waiting_approval``, ``waiting_window``, with an
  optional re-check delay) or end it (``rejected``);
* **after-end hooks** run once a deployment reached a final status (promotion,
  notifications, automatic rollback). A failing hook is logged, never undoes
  the recorded outcome.

A deployment left ``planning``/``running`` by a worker that died is found by
the next holder of the same lock and recorded ``failed``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .. import progress, telemetry
from ..audit.ledger import AuditLedger
from ..audit.records import ACTIVE_STATUSES, CommitInfo, DeploymentRecord
from ..clock import Clock
from ..config import PlatformConfig
from ..errors import DataOpsError, NotFound
from ..git.hosts import GitSource, source_for
from ..git.snapshot import CommitSnapshot
from ..settings import Settings
from ..storage import StorageAccount
from .commits import carried_commits
from .components import COMPONENTS, ComponentRegistry
from .current import CurrentDeployments, Deployed
from .lifecycle import AfterEnd, Opening, finish_deployment, open_deployment
from .lock import LeaseLock
from .model import ApplyResult, DeployContext, Plan
from .queue import DeploymentQueue
from .request import DeploymentRequest

log = logging.getLogger(__name__)

WAITING_STATUSES = frozenset({"waiting_lock", "waiting_window", "waiting_approval"})


@dataclass(frozen=True)
class Hold:
    """A gate's decision: hold the deployment in ``status`` (or end it when status is final)."""

    status: str  # waiting_approval | waiting_window | rejected
    reason: str
    recheck_after: int | None = None  # seconds: put the request back to be looked at again


@dataclass(frozen=True)
class GateInput:
    record: DeploymentRecord
    request: DeploymentRequest
    plan: Plan
    config: PlatformConfig
    ledger: AuditLedger
    after_end: Sequence[AfterEnd] = ()  # what a gate that ends another deployment finishes it with
    # is_ancestor(older, newer) of the repository: superseding follows the commit graph
    is_ancestor: Callable[[str, str], bool] | None = None


Gate = Callable[[GateInput], Hold | None]


@dataclass(frozen=True)
class Outcome:
    deployment_id: str
    status: str
    requeued_after: int | None = None
    plan: Plan | None = None


@dataclass
class Orchestrator:
    config: PlatformConfig
    storage: StorageAccount
    ledger: AuditLedger
    settings: Settings
    clock: Clock
    queue: DeploymentQueue | None = None
    source: GitSource | None = None  # default: the configured repository
    gates: Sequence[Gate] = ()
    after_end: Sequence[AfterEnd] = ()
    lock_duration: int = 30
    lock_retry_seconds: int = 15  # how long a request that found the lock taken waits in the queue
    holder: str = "worker"
    components: ComponentRegistry = COMPONENTS  # the deployers, by component name
    # the ``verify`` step after a successful apply (shared.verify.gate.VerifyStep); may turn it failed
    verify: Callable[[DeployContext, DeploymentRecord, ApplyResult], ApplyResult] | None = None

    def __post_init__(self) -> None:
        if self.queue is None:
            self.queue = DeploymentQueue(self.storage)
        self.current = CurrentDeployments(self.storage)

    # ------------------------------------------------------------------ public
    def git(self) -> GitSource:
        if self.source is None:
            self.source = source_for(self.config.repository, self.settings)
        return self.source

    def run(self, request: DeploymentRequest) -> Outcome:
        """Run one request to an outcome. Raises only when the ledger itself is unreachable (retry)."""
        host = telemetry.current_span_context()  # the invocation's own trace: linked, not the parent
        with telemetry.attached_context(request.trace), telemetry.pipeline_run(
                action=telemetry.SYNC, pipeline=telemetry.pipeline_name(request.component),
                environment=request.environment, component=request.component, run_id=request.deployment_id,
                attributes=telemetry.deployment_attributes(commit=request.commit, ref=request.ref),
                link_to=host) as finish:
            outcome = self._run(request)
            finish(outcome.status)
            log.info("deployment %s (%s/%s): %s", outcome.deployment_id, request.environment, request.component,
                     outcome.status)  # in the run's span: an exported record carries its trace and span ids
            return outcome

    # ----------------------------------------------------------------- private
    def _run(self, request: DeploymentRequest) -> Outcome:
        try:
            rec = self.ledger.get_deployment(request.deployment_id, with_plan=False)
        except NotFound:
            log.warning("request for unknown deployment %s dropped", request.deployment_id)
            return Outcome(request.deployment_id, "missing")
        if rec.final:
            return Outcome(rec.id, rec.status)  # a redelivered request: nothing left to do
        if rec.status == "waiting_approval":
            return Outcome(rec.id, rec.status)  # released by an approval, not by the queue
        lock = LeaseLock(self.storage, request.environment, request.component, duration=self.lock_duration)
        if not lock.try_acquire(f"{self.holder}:{rec.id}"):
            return self._wait_for_lock(rec, request)
        try:
            self._recover_crashed(rec)
            rec = self.ledger.get_deployment(rec.id, with_plan=False)
            if rec.status in ACTIVE_STATUSES:
                # This very deployment was being run by a worker that died: a crash mid-way is a failure,
                # once what it changed and did not undo is put back.
                summary, details = self._undo_crashed(rec)
                return self._end(rec, "failed", error="the worker running this deployment stopped mid-way"
                                 + summary, error_details=details)
            if rec.trigger == "branch":  # a branch workspace sync or removal (shared/branches)
                from ..branches.run import BranchRun

                return BranchRun(self).run(rec, request)
            return self._deploy(rec, request, lock)
        finally:
            lock.release()

    def _wait_for_lock(self, rec: DeploymentRecord, request: DeploymentRequest) -> Outcome:
        assert self.queue is not None
        # Record first, then re-queue: the copy could otherwise run (and move on) before the record
        # says waiting_lock. If the send fails the original message is retried by the queue.
        # A copy of a request whose deployment runs elsewhere (a redelivered or swept request) leaves
        # its status alone; it comes back later, and finds it ended, or its worker dead (recovery).
        if rec.status != "waiting_lock" and rec.status not in ACTIVE_STATUSES:
            self.ledger.transition(rec.id, "waiting_lock")
        self.queue.send(request.again(), delay_seconds=self.lock_retry_seconds)
        return Outcome(rec.id, "waiting_lock", requeued_after=self.lock_retry_seconds)

    def _recover_crashed(self, current: DeploymentRecord) -> None:
        """We hold the lock, so any other active deployment of this environment+component is orphaned."""
        for status in sorted(ACTIVE_STATUSES):
            page = self.ledger.list_deployments(current.environment, component=current.component,
                                                status=status, limit=100)
            for orphan in page.items:
                if orphan.id == current.id:
                    continue
                log.warning("deployment %s was left %s by a dead worker", orphan.id, orphan.status)
                summary, details = self._undo_crashed(orphan)
                try:
                    self._end(orphan, "failed", error=f"the worker running this deployment stopped mid-way "
                                                      f"(found by {current.id}){summary}", error_details=details)
                except DataOpsError:
                    pass  # ended meanwhile

    def _undo_crashed(self, orphan: DeploymentRecord) -> tuple[str, dict[str, Any] | None]:
        """Put back what a crashed deployment changed and did not undo (the deployer's ``recover``, when it
        has one: ADF restarts the triggers it stopped). Returns (text for the error, error details)."""
        try:
            recover = getattr(self.components.deployer(orphan.component), "recover", None)
            if recover is None:
                return "", None
            done = recover(self.config, orphan, self.settings, self.ledger)
        except Exception as exc:  # recovery must not stop the crashed record from being ended
            log.exception("recovering crashed deployment %s", orphan.id)
            return f"; putting back what it changed failed: {type(exc).__name__}", {"recovery_error": str(exc)[:500]}
        return f"; {done.summary}", {"recovery": done.to_json(),
                                     **({"stranded_triggers": sorted(done.failed)} if done.failed else {})}

    def _deploy(self, rec: DeploymentRecord, request: DeploymentRequest, lock: LeaseLock) -> Outcome:
        trace_id = telemetry.current_trace_id()
        changes: dict[str, Any] = {"trace_id": trace_id} if not rec.trace_id and trace_id else {}
        telemetry.run_started(rec, self.clock.now(), self.config.repository.provider)
        self.ledger.transition(rec.id, "planning", **changes)
        ctx: DeployContext | None = None
        applying = False
        try:
            snapshot = self._load(rec, request)
            deployed = self._deployed(rec)
            rec = self._with_commit_info(rec, snapshot, deployed)
            if not (request.force or rec.forced or rec.trigger == "rollback"):
                why = self._superseded_by(rec, deployed)
                if why is not None:
                    return self._end(rec, "superseded", error=why,
                                     extra={**rec.extra, "deployed": deployed.to_json() if deployed else None})
            ctx = DeployContext(config=self.config, environment=rec.environment, snapshot=snapshot,
                                settings=self.settings, clock=self.clock, storage=self.storage,
                                ledger=self.ledger, deployment_id=rec.id, force=request.force)
            deployer = self.components.deployer(rec.component)
            with ctx.steps.step("plan", component=rec.component):
                plan = deployer.plan(ctx)
            progress.emit("plan", plan)
            self.ledger.update_deployment(rec.id, plan=plan.to_json(), summary={"planned_" + k: v for k, v in
                                                                             plan.counts().items()})
            if plan.refused and not request.force:
                return self._end(rec, "failed", error=f"plan refused: {plan.refused}", plan=plan)
            for gate in self.gates:
                hold = gate(GateInput(rec, request, plan, self.config, self.ledger, self.after_end,
                                      self.git().is_ancestor))
                if hold is not None:
                    return self._hold(rec, request, hold, plan)
            self.ledger.transition(rec.id, "running")
            applying = True
            with ctx.steps.step("apply", component=rec.component) as step:
                result = deployer.apply(ctx, plan)
                if result.status != "succeeded":
                    step.status = "failed"
                    step.error = result.error
            ctx.steps.objects(result.objects)
            summary = {**{"planned_" + k: v for k, v in plan.counts().items()}, **result.summary()}
            extra = dict(rec.extra)
            if lock.lost:
                extra["lock_lost"] = True
            if result.status == "succeeded":
                self._advance_current(rec, deployed)  # applied: the environment holds it, verified or not
                if self.verify is not None:
                    result = self.verify(ctx, rec, result)
            return self._end(rec, "succeeded" if result.status == "succeeded" else "failed",
                             error=result.error, error_details=result.error_details, summary=summary,
                             plan=plan, extra=extra)
        except DataOpsError as err:
            if err.retryable and not applying:
                # Transient (git host or storage down) before anything changed: back to queued and let
                # the queue retry; after maxDequeueCount the poison queue records it failed.
                self._back_to_queue(rec.id, f"{err.code}: {err.message}")
                raise
            return self._end(rec, "failed", error=f"{err.code}: {err.message}",
                             error_details={"code": err.code, "kind": err.kind})
        except Exception as exc:  # a deployer bug must still end the record, never leave it running
            log.exception("deployment %s failed", rec.id)
            return self._end(rec, "failed", error=f"{type(exc).__name__}: {str(exc)[:1000]}")

    def _back_to_queue(self, deployment_id: str, reason: str) -> None:
        try:
            self.ledger.transition(deployment_id, "queued", error=f"will retry: {reason}"[:2000])
        except Exception:
            log.warning("deployment %s could not be put back to queued", deployment_id)

    def _load(self, rec: DeploymentRecord, request: DeploymentRequest) -> CommitSnapshot:
        with telemetry.task_span("load_commit", **{telemetry.VCS_REVISION: rec.commit}):
            return self.git().snapshot(request.commit or rec.commit)

    def _with_commit_info(self, rec: DeploymentRecord, snap: CommitSnapshot,
                          deployed: Deployed | None) -> DeploymentRecord:
        """Fill the commit time from Git when the trigger did not carry it (lead time needs it), and the
        commits the deployment brings since what is deployed (:mod:`.commits`)."""
        changes: dict[str, Any] = {}
        if snap.sha != rec.commit and len(rec.commit) < 40 and snap.sha.startswith(rec.commit):
            changes["commit"] = snap.sha
        if rec.commit_time is None and snap.timestamp is not None:
            changes["commit_time"] = snap.timestamp
        base = deployed.commit if deployed is not None else None
        if rec.commit_range is None or (rec.commit_range.get("base"), rec.commit_range.get("head")) != (base, snap.sha):
            head = CommitInfo(snap.sha, snap.timestamp, snap.author, snap.message, snap.author_email,
                              snap.committer_email)
            changes["commits"], changes["commit_range"] = carried_commits(self.git(), base=base, head=head,
                                                                          known=rec.commits)
        if not changes:
            return rec
        return self.ledger.update_deployment(rec.id, **changes)

    def _deployed(self, rec: DeploymentRecord) -> Deployed | None:
        """What the environment holds: its current record, else (older ledgers) the latest success."""
        current = self.current.get(rec.environment, rec.component)
        if current is not None:
            return current
        last = self.ledger.latest(rec.environment, component=rec.component, status="succeeded")
        if last is None or last.trigger == "branch":  # a branch workspace sync is not the shared folder
            return None
        return Deployed(rec.environment, rec.component, last.commit, last.id,
                        last.ended_at or last.queued_at or self.clock.now(), last.trigger)

    def _superseded_by(self, rec: DeploymentRecord, deployed: Deployed | None) -> str | None:
        """Why ``rec`` must not go over what is deployed (None: its commit descends from it)."""
        if deployed is None or deployed.commit == rec.commit:
            return None
        git = self.git()
        if git.is_ancestor(deployed.commit, rec.commit):
            return None
        if rec.extra.get("forced") and rec.extra.get("before") == deployed.commit:
            return None  # a force-push that replaced exactly the deployed commit
        if git.is_ancestor(rec.commit, deployed.commit):
            return (f"{deployed.commit[:12]} (deployment {deployed.deployment_id}) is already deployed "
                    f"and contains {rec.commit[:12]}")
        return (f"{rec.commit[:12]} is not a descendant of the deployed {deployed.commit[:12]} "
                f"(deployment {deployed.deployment_id}): deploy it deliberately with --force --reason")

    def _advance_current(self, rec: DeploymentRecord, seen: Deployed | None) -> None:
        mine = Deployed(rec.environment, rec.component, rec.commit, rec.id, self.clock.now(), rec.trigger)
        self.current.advance(mine, seen=seen if seen is not None and seen.etag else None,
                             descends=self.git().is_ancestor)

    def _hold(self, rec: DeploymentRecord, request: DeploymentRequest, hold: Hold, plan: Plan) -> Outcome:
        if hold.status in ("succeeded", "failed", "superseded", "rejected", "rolled_back"):
            return self._end(rec, hold.status, error=hold.reason, plan=plan)
        self.ledger.transition(rec.id, hold.status, extra={**rec.extra, "waiting_reason": hold.reason})
        if hold.recheck_after is not None:
            assert self.queue is not None
            self.queue.send(request.again(), delay_seconds=hold.recheck_after)
        return Outcome(rec.id, hold.status, requeued_after=hold.recheck_after, plan=plan)

    def _end(self, rec: DeploymentRecord, status: str, *, plan: Plan | None = None, **changes: Any) -> Outcome:
        finish_deployment(self.ledger, rec, status, hooks=self.after_end, **changes)
        return Outcome(rec.id, status, plan=plan)


def record_poisoned(ledger: AuditLedger, raw: bytes | str, reason: str,
                    hooks: Sequence[AfterEnd] = ()) -> str | None:
    """A request that failed ``maxDequeueCount`` times: its deployment ends ``failed`` with the reason."""
    try:
        request = DeploymentRequest.from_bytes(raw)
    except DataOpsError:
        log.error("unreadable message in the poison queue dropped")
        return None
    try:
        rec = ledger.get_deployment(request.deployment_id, with_plan=False)
    except NotFound:
        return None
    if rec.final:
        return rec.id
    finish_deployment(ledger, rec, "failed", hooks=hooks, error=reason)
    return rec.id


def submit(ledger: AuditLedger, queue: DeploymentQueue | None, *, environment: str, component: str, commit: str,
           ref: str = "", repository: str = "", trigger: str = "manual", actor: str | None = None,
           actor_verified: bool | None = None, actor_source: str | None = None, seed: str | None = None, force: bool = False, rollback_of: str | None = None,
           commit_time: Any = None, extra: dict[str, Any] | None = None,
           commits: Sequence[CommitInfo] = ()) -> DeploymentRecord:
    """Open a deployment (promotion, rollback, manual): :func:`~shared.deploy.lifecycle.open_deployment`."""
    return open_deployment(ledger, queue, Opening(
        environment=environment, component=component, commit=commit, trigger=trigger, ref=ref,
        repository=repository, actor=actor, actor_verified=actor_verified, actor_source=actor_source,
        commits=tuple(commits), commit_time=commit_time, force=force,
        rollback_of=rollback_of,
        extra=dict(extra or {}), seed=seed))


def rollback_target(ledger: AuditLedger, environment: str, component: str, *,
                    before: DeploymentRecord | None = None) -> DeploymentRecord | None:
    """The last successful deployment older than ``before`` (default: older than the latest success)."""
    skip_first = before is None
    for rec in ledger.iter_deployments(environment, until=before.queued_at if before else None):
        if rec.component != component or rec.status != "succeeded" or (before and rec.id == before.id) \
                or rec.trigger == "branch":  # branch workspace syncs went to their own folders
            continue
        if before is not None and rec.commit == before.commit:
            continue
        if skip_first:
            skip_first = False
            current = rec
            continue
        if not before and rec.commit == current.commit:
            continue
        return rec
    return None
