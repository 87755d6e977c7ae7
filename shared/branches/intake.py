"""A push to a branch with a workspace: what the webhook does (no call to Git or Databricks here).

Called by :class:`~shared.ingest.intake.Intake` once the delivery is verified and parsed:

* a push to the main branch also queues a merge check (:mod:`shared.branches.sweep`): the
  branch folders whose head it contains are removed;
* a push to a branch matching ``databricks.branch_workspaces.branches`` (and deploying no
  component itself) is checked (:mod:`shared.branches.names`: a hostile name is 400
  ``invalid_branch_name``, a name colliding with another branch's folder 409
  ``branch_collision``; both recorded as activity, nothing else changed), registered, and
  queued as a ``trigger: branch`` deployment of the notebooks: a sync, or a removal when the
  push deletes the branch.
* a merged pull request (:func:`receive_pull_request`; GitHub ``pull_request`` closed and merged, Azure
  DevOps ``git.pullrequest.merged``/``.updated`` completed, GitLab Merge Request Hook merged) into the
  main branch queues the removal of its source branch's folder (reason ``merged``): squash and rebase
  merges make new commits, so only this event says the branch was merged. Closed without merging,
  from a fork, or into another branch: ignored, the folder stays.

A removal already under way answers a second event for it (the deletion after the merge, or the
other way round) with ``ignored`` and the removal's deployment id: the folder is removed once.

The deployment ids, claims and queueing are the intake's (exactly once, within the budget).
"""

from __future__ import annotations

import fnmatch
import json
import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..audit.records import FINAL_STATUSES, Activity
from ..deploy.lifecycle import Opening
from ..errors import Conflict, DataOpsError
from ..ingest.push import PullRequest, Push
from ..ingest.routing import Route, same_repository
from .names import BranchRefused, collision_key
from .registry import BranchEntry, BranchRegistry

if TYPE_CHECKING:
    from ..config import BranchWorkspaces, PlatformConfig
    from ..ingest.intake import Intake, IntakeResult

log = logging.getLogger(__name__)

TRIGGER = "branch"
COMPONENT = "notebooks"
SWEEP_KIND = "branch_sweep"


def matches(config: PlatformConfig, branch: str) -> bool:
    bw = config.databricks.branch_workspaces
    return bw is not None and any(fnmatch.fnmatchcase(branch, p) for p in bw.branches)


def owner_emails(config: PlatformConfig, push: Push) -> tuple[str, ...]:
    """Whom to look the folder owner up as: the pusher's Entra identity (``people``), then the payload e-mail."""
    known = {x.lower() for x in (push.pusher, push.pusher_email) if x}
    out = [p.entra for p in config.people if known & {g.lower() for g in p.git} or p.entra.lower() in known]
    if push.pusher_email:
        out.append(push.pusher_email)
    return tuple(dict.fromkeys(e for e in out if "@" in e))


def sweep_message(main_commit: str, reason: str = "merged") -> bytes:
    return json.dumps({"schema": 1, "kind": SWEEP_KIND, "main": main_commit, "reason": reason}).encode()


def parse_sweep(raw: bytes | str) -> dict[str, Any] | None:
    """The merge check a queue message asks for, or None when it is something else."""
    try:
        d = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return d if isinstance(d, dict) and d.get("kind") == SWEEP_KIND and isinstance(d.get("main"), str) else None


def receive_pull_request(intake: Intake, pr: PullRequest, body: bytes) -> IntakeResult:
    """A pull request's event (verified and parsed): the removal of its merged branch's workspace, or why not."""
    if intake.config.databricks.branch_workspaces is None:
        return _ignored(intake, pr.as_push(), "pull request events are used by branch workspaces only, and "
                                              "databricks.branch_workspaces is not configured")
    return BranchIntake(intake).pull_request(pr, body)


def _ignored(intake: Intake, push: Push, reason: str, **more: Any) -> IntakeResult:
    from ..ingest.intake import IntakeResult

    intake._record_ignored(push.provider, push.delivery_id, reason, push)
    return IntakeResult(202, {"status": "ignored", "reason": reason, "delivery_id": push.delivery_id, **more})


def removal_opening(entry: BranchEntry, reason: str, *, deployment_id: str | None = None, seed: str | None = None,
                    extra: dict[str, Any] | None = None, actor: str | None = None, delivery_id: str | None = None,
                    repository: str = "", actor_source: str = "system") -> Opening:
    return Opening(environment=entry.environment, component=COMPONENT, commit=entry.head or "0" * 40,
                   trigger=TRIGGER, ref=f"refs/heads/{entry.branch}", repository=repository, actor=actor,
                   actor_verified=False if actor_source != "system" else None, actor_source=actor_source,
                   delivery_id=delivery_id, deployment_id=deployment_id, seed=seed,
                   extra={"branch": entry.branch, "action": "remove", "reason": reason, "head": entry.head,
                          **(extra or {})})


class BranchIntake:
    def __init__(self, intake: Intake) -> None:
        self.intake = intake
        self.config = intake.config
        bw = self.config.databricks.branch_workspaces
        assert bw is not None
        self.bw: BranchWorkspaces = bw
        self.registry = BranchRegistry(intake.storage)

    def receive(self, push: Push, route: Route, body: bytes) -> IntakeResult | None:
        """The answer for a branch workspace push, or None to let the normal routing answer."""
        repo = self.config.repository
        branch = push.branch
        if branch is None or not same_repository(repo.url, repo.provider, push):
            return None
        if branch == repo.main_branch:
            if not push.deleted:
                self._queue_merge_check(push.after)
            return None
        if not matches(self.config, branch) or self.intake.components.for_branch(self.config, branch):
            return None
        try:
            collision_key(branch)
            entry = self.registry.get(branch)
            if entry is not None and entry.branch != branch and entry.state != "removed":
                raise Conflict(f"branch {branch!r} would share the branch folder of {entry.branch!r} (names that "
                               "differ only in case or in '/' against '-' collide); rename the branch",
                               code="branch_collision")
        except (BranchRefused, Conflict) as exc:
            self._refused(push, exc)
            raise
        if push.deleted:
            return self._deleted(push, entry, body)
        return self._pushed(push, entry, body)

    # ------------------------------------------------------------------ pushes
    def _pushed(self, push: Push, entry: BranchEntry | None, body: bytes) -> IntakeResult:
        branch = push.branch
        assert branch is not None
        now = self.intake.clock.now()
        emails = owner_emails(self.config, push)
        if entry is None or entry.state == "removed":
            fresh = BranchEntry(branch, self.bw.environment, head=push.after, pusher=push.pusher,
                                pusher_emails=emails, created_at=now, last_push_at=now)
            if entry is None:
                if self.registry.create(fresh) is None:  # a concurrent first push: register again
                    return self.receive_again(push, body)
            else:
                self.registry.save(entry, **{k: getattr(fresh, k) for k in (
                    "state", "head", "pusher", "pusher_emails", "created_at", "last_push_at")},
                    folder="", owner=None, object_id=None, synced_commit="", last_sync_at=None, last_sync_status="",
                    removal_deployment_id="", removal_reason="", removal_queued_at=None, removed_at=None,
                    notified=False)
        else:
            self.registry.update(branch, head=push.after, last_push_at=now, state="active",
                                 **({} if entry.pusher_emails else {"pusher_emails": emails}))
        extra = {"branch": branch, "action": "sync", "provider": push.provider, "before": push.before,
                 "forced": push.forced}
        return self.intake._accept(push, [(self.bw.environment, COMPONENT)], (), body,
                                   opening=lambda p, t, d: replace(self.intake._opening(p, t, d), trigger=TRIGGER,
                                                                   extra=extra))

    def receive_again(self, push: Push, body: bytes) -> IntakeResult:
        entry = self.registry.get(push.branch or "")
        return self._pushed(push, entry, body)

    def _deleted(self, push: Push, entry: BranchEntry | None, body: bytes) -> IntakeResult:
        branch = push.branch
        if entry is None or entry.branch != branch or entry.state == "removed":
            return _ignored(self.intake, push, f"{push.ref} was deleted; it has no branch workspace")
        return self._removal(push, entry, "deleted", {}, body)

    def _removal(self, push: Push, entry: BranchEntry, reason: str, extra: dict[str, Any],
                 body: bytes) -> IntakeResult:
        """Queue the removal of ``entry``'s folder for this delivery (once: a removal under way answers)."""
        pending = self._removal_under_way(entry)
        if pending is not None:
            return _ignored(self.intake, push, f"the branch workspace of {entry.branch!r} is already being removed "
                                               f"({entry.removal_reason or 'removal'}) by deployment {pending}",
                            removal=pending)

        def opening(p: Push, target: str, did: str) -> Opening:
            return removal_opening(entry, reason, deployment_id=did, actor=p.pusher, delivery_id=p.delivery_id,
                                   repository=p.repository, extra={"provider": p.provider, **extra},
                                   actor_source=f"git:{p.provider}")

        result = self.intake._accept(push, [(entry.environment, COMPONENT)], (), body, opening=opening)
        ids = result.body.get("deployments") or []
        if ids and result.body.get("status") in ("queued", "recovered"):
            try:
                self.registry.update(entry.branch, state="removing", removal_deployment_id=ids[0],
                                     removal_reason=reason, removal_queued_at=self.intake.clock.now())
            except DataOpsError:
                log.warning("branch %s: the removal is queued but the registry could not be marked", entry.branch)
        return result

    def _removal_under_way(self, entry: BranchEntry) -> str | None:
        """The id of the removal queued for ``entry`` that has not ended yet, if any."""
        if entry.state != "removing" or not entry.removal_deployment_id:
            return None
        try:
            rec = self.intake.ledger.get_deployment(entry.removal_deployment_id, with_plan=False)
        except DataOpsError:  # not found (a record never written): queue one
            return None
        return None if rec.status in FINAL_STATUSES else rec.id

    # ----------------------------------------------------------- pull requests
    def pull_request(self, pr: PullRequest, body: bytes) -> IntakeResult:
        """A merged pull request into main removes its source branch's folder; anything else is ignored."""
        repo = self.config.repository
        push = pr.as_push()
        branch = pr.source_branch
        what = f"pull request #{pr.number} ({branch} into {pr.target_branch})"
        if not same_repository(repo.url, repo.provider, push):
            return _ignored(self.intake, push, f"{what} of {pr.repository}, not the configured repository {repo.url}")
        if pr.from_fork:
            return _ignored(self.intake, push, f"{what} comes from a fork: its branch is not a branch of this "
                                               "repository")
        if not matches(self.config, branch) or self.intake.components.for_branch(self.config, branch):
            return _ignored(self.intake, push, f"{what}: {branch!r} matches no branch_workspaces pattern, it has "
                                               "no branch workspace")
        try:
            collision_key(branch)
        except BranchRefused as exc:
            self._refused(push, exc)
            raise
        if not pr.merged:
            return _ignored(self.intake, push, f"{what} was not merged (status {pr.status}): "
                                               + ("it is not completed; " if pr.status == "active" else
                                                  "closed without merging; ") +
                                               "its branch workspace stays until the branch is deleted or expires")
        if pr.target_branch != repo.main_branch:
            return _ignored(self.intake, push, f"{what} was merged into {pr.target_branch!r}, not the main branch "
                                               f"{repo.main_branch!r}: its branch workspace stays")
        entry = self.registry.get(branch)
        if entry is None or entry.branch != branch or entry.state == "removed":
            return _ignored(self.intake, push, f"{what} was merged; {branch!r} has no branch workspace")
        return self._removal(push, entry, "merged", {
            "pull_request": pr.number, "source_head": pr.source_head, "merge_commit": pr.merge_commit,
            "target": pr.target_branch, "via": "pull_request"}, body)

    # ------------------------------------------------------------------ others
    def _queue_merge_check(self, main_commit: str) -> None:
        """Best effort: the maintenance timer checks merges too."""
        from ..deploy.queue import DeploymentQueue

        try:
            if next(iter(self.registry.all("active")), None) is None:
                return
            queue = DeploymentQueue(self.intake.storage)
            self.intake.storage.queue(queue.name).send_message(sweep_message(main_commit))
        except Exception:
            log.warning("the merge check of branch workspaces could not be queued; the timer will do it")

    def _refused(self, push: Push, exc: DataOpsError) -> None:
        from azure.core.exceptions import AzureError

        act = Activity(environment=self.bw.environment, kind="branch_refused",
                       key=f"{push.provider}:{push.delivery_id}", at=self.intake.clock.now(), actor=push.pusher,
                       status="refused", summary=exc.message[:2000],
                       data={"code": exc.code, "ref": push.ref[:1024], "after": push.after,
                             "provider": push.provider})
        try:
            self.intake.ledger.record_activity(act)
        except AzureError:
            log.warning("refused branch push could not be recorded")
