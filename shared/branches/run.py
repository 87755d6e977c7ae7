"""Running a ``trigger: branch`` deployment: sync a branch into its folder, or remove the folder.

Called by the orchestrator for branch records, holding the environment's notebooks lock (so the
crash recovery and the lock are the shared folders' own). A sync:

1. is superseded when the branch workspace was removed meanwhile, or a newer commit of the
   branch is already synced;
2. on the first push, resolves the owner (the workspace user with the pusher's e-mail, SCIM),
   derives the folder from the template (never outside its root, never a folder that exists
   without being ours, never inside or above a synced ``target_dir``), creates it and sets its
   permissions (CAN_MANAGE owner, CAN_READ ``read_groups``);
3. plans and applies with the notebook deployer against that folder: the same engine, sync
   state (its own blob) and drift detection as the shared folders.

A removal re-checks its reason (deleted: not pushed again since; merged: the head is still an
ancestor of main, or, for a merged pull request, the branch's head is the head it merged or one it
contains; expired: still no push within the TTL), deletes the folder recursively and its sync
state, and marks the branch removed.
"""

from __future__ import annotations

import logging
import posixpath
import random
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .. import telemetry
from ..audit.records import DeploymentRecord, ObjectResult
from ..deploy.lifecycle import finish_deployment
from ..deploy.model import DeployContext, Plan, PlannedAction
from ..errors import DataOpsError
from ..notebooks.state import state_blob
from ..notebooks.throttle import AdaptivePacer, RetryPolicy, WorkspaceCallError
from ..notebooks.workspace import Workspace
from .access import find_user, grant_folder
from .names import BranchRefused, branch_folder, root_of
from .registry import BranchEntry, BranchRegistry

if TYPE_CHECKING:
    from ..config import BranchWorkspaces, DatabricksTarget, PlatformConfig
    from ..deploy.current import Deployed
    from ..deploy.orchestrator import Orchestrator, Outcome
    from ..deploy.request import DeploymentRequest

log = logging.getLogger(__name__)


def folder_url(host: str, object_id: int | None, folder: str) -> str:
    """Where the folder opens in the workspace UI."""
    host = host.rstrip("/")
    return f"{host}/browse/folders/{object_id}" if object_id else f"{host}/#workspace{folder}"


def overlaps_target(config: PlatformConfig, host: str, folder: str) -> str | None:
    """An environment whose synced ``target_dir`` is the folder, holds it, or sits in it."""
    f = folder.lower()
    for name, env in config.environments.items():
        t = env.databricks
        if t is None or t.host.rstrip("/").lower() != host.rstrip("/").lower():
            continue
        d = t.target_dir.lower()
        if f == d or (f + "/").startswith(d + "/") or (d + "/").startswith(f + "/"):
            return f"{name} ({t.target_dir})"
    return None


def branch_config(config: PlatformConfig, environment: str, folder: str) -> PlatformConfig:
    """The configuration with ``environment``'s notebooks target pointed at ``folder``."""
    env = config.environments[environment]
    assert env.databricks is not None
    target = env.databricks.model_copy(update={"target_dir": folder})
    envs = {**config.environments, environment: env.model_copy(update={"databricks": target})}
    return config.model_copy(update={"environments": envs})


@dataclass
class BranchRun:
    orch: Orchestrator

    def __post_init__(self) -> None:
        bw = self.orch.config.databricks.branch_workspaces
        self.registry = BranchRegistry(self.orch.storage)
        self.bw: BranchWorkspaces | None = bw
        self._ws: Workspace | None = None

    # ---------------------------------------------------------------- wiring
    @property
    def ledger(self) -> Any:
        return self.orch.ledger

    def target(self, environment: str) -> DatabricksTarget:
        env = self.orch.config.environment(environment)
        if env.databricks is None:
            raise DataOpsError(f"environment {environment!r} has no databricks section", code="no_target")
        return env.databricks

    def workspace(self, target: DatabricksTarget) -> Workspace:
        if self._ws is None:
            pacer = AdaptivePacer(target.max_parallel, sleep=self.orch.clock.sleep, monotonic=time.monotonic,
                                  rng=random.Random(), policy=RetryPolicy(throttle_budget_s=target.throttle_budget_s))
            self._ws = Workspace.connect(target, self.orch.settings, pacer)
        return self._ws

    def _end(self, rec: DeploymentRecord, status: str, **changes: Any) -> Outcome:
        from ..deploy.orchestrator import Outcome

        plan = changes.pop("plan_obj", None)
        finish_deployment(self.ledger, rec, status, **changes)
        return Outcome(rec.id, status, plan=plan)

    # ---------------------------------------------------------------- entry
    def run(self, rec: DeploymentRecord, request: DeploymentRequest) -> Outcome:
        telemetry.run_started(rec, self.orch.clock.now(), self.orch.config.repository.provider)
        self.ledger.transition(rec.id, "planning")
        branch = str(rec.extra.get("branch") or "")
        try:
            if self.bw is None:
                return self._end(rec, "failed", error="databricks.branch_workspaces is not configured")
            entry = self.registry.get(branch)
            if entry is not None and entry.branch != branch:
                entry = None
            if rec.extra.get("action") == "remove":
                return self._remove(rec, entry)
            return self._sync(rec, entry, request)
        except BranchRefused as exc:
            return self._end(rec, "failed", error=f"{exc.code}: {exc.message}",
                             error_details={"code": exc.code, "kind": exc.kind})
        except DataOpsError as err:
            if err.retryable and rec.status in ("queued", "planning"):
                self.orch._back_to_queue(rec.id, f"{err.code}: {err.message}")
                raise
            return self._end(rec, "failed", error=f"{err.code}: {err.message}",
                             error_details={"code": err.code, "kind": err.kind})
        except WorkspaceCallError as exc:
            return self._end(rec, "failed", error=f"workspace: {exc}")
        except Exception as exc:
            log.exception("branch deployment %s failed", rec.id)
            return self._end(rec, "failed", error=f"{type(exc).__name__}: {str(exc)[:1000]}")

    # ---------------------------------------------------------------- sync
    def _sync(self, rec: DeploymentRecord, entry: BranchEntry | None, request: DeploymentRequest) -> Outcome:
        assert self.bw is not None
        branch = str(rec.extra.get("branch"))
        if entry is None or entry.state != "active":
            return self._end(rec, "superseded", error=f"the branch workspace of {branch!r} was removed after "
                                                      "this push")
        git = self.orch.git()
        if entry.synced_commit and entry.synced_commit != rec.commit and not request.force \
                and git.is_ancestor(rec.commit, entry.synced_commit):
            return self._end(rec, "superseded", error=f"{entry.synced_commit[:12]} of {branch!r} is already synced "
                                                      f"and contains {rec.commit[:12]}")
        snapshot = self.orch.git().snapshot(request.commit or rec.commit)
        rec = self.orch._with_commit_info(rec, snapshot, self._base(rec, entry))
        target = self.target(rec.environment)
        ws = self.workspace(target)
        ctx = DeployContext(config=self.orch.config, environment=rec.environment, snapshot=snapshot,
                            settings=self.orch.settings, clock=self.orch.clock, storage=self.orch.storage,
                            ledger=self.ledger, deployment_id=rec.id, force=request.force)
        created = False
        with ctx.steps.step("folder", branch=branch) as step:
            entry, created = self._ensure_folder(entry, target, ws)
            step.details.update(folder=entry.folder, owner=entry.owner, created=created)
        rec = self.ledger.update_deployment(rec.id, extra={**rec.extra, "folder": entry.folder,
                                                             "owner": entry.owner})
        ctx = DeployContext(config=branch_config(self.orch.config, rec.environment, entry.folder),
                            environment=rec.environment, snapshot=snapshot, settings=self.orch.settings,
                            clock=self.orch.clock, storage=self.orch.storage, ledger=self.ledger,
                            deployment_id=rec.id, force=request.force, recorder=ctx.recorder)
        deployer = self.orch.components.deployer(rec.component)
        with ctx.steps.step("plan", component=rec.component):
            plan = deployer.plan(ctx)
        self.ledger.update_deployment(rec.id, plan=plan.to_json(),
                                      summary={"planned_" + k: v for k, v in plan.counts().items()})
        if plan.refused and not request.force:
            self._synced(entry, rec, "failed")
            return self._end(rec, "failed", error=f"plan refused: {plan.refused}", plan_obj=plan)
        self.ledger.transition(rec.id, "running")
        with ctx.steps.step("apply", component=rec.component) as step:
            result = deployer.apply(ctx, plan)
            if result.status != "succeeded":
                step.status, step.error = "failed", result.error
        ctx.steps.objects(result.objects)
        summary = {**{"planned_" + k: v for k, v in plan.counts().items()}, **result.summary()}
        status = "succeeded" if result.status == "succeeded" else "failed"
        entry = self._synced(entry, rec, status)
        final = self._end(rec, status, error=result.error, error_details=result.error_details, summary=summary,
                          plan_obj=plan)
        if created and status == "succeeded" and self.bw.notify:
            self._notify(rec, entry, target)
        return final

    def _base(self, rec: DeploymentRecord, entry: BranchEntry) -> Deployed | None:
        """What the branch folder holds (its last synced commit, else the push's ``before``): the commits
        this sync carries are counted from there."""
        from ..deploy.current import Deployed

        base = entry.synced_commit or str(rec.extra.get("before") or "")
        if not base or set(base) == {"0"}:
            return None
        return Deployed(rec.environment, rec.component, base, entry.last_deployment_id or rec.id,
                        entry.last_sync_at or self.orch.clock.now(), "branch")

    def _synced(self, entry: BranchEntry, rec: DeploymentRecord, status: str) -> BranchEntry:
        changes: dict[str, Any] = {"last_sync_at": self.orch.clock.now(), "last_sync_status": status,
                                   "last_deployment_id": rec.id}
        if status == "succeeded":
            changes["synced_commit"] = rec.commit
        return self.registry.update(entry.branch, **changes) or entry

    def _ensure_folder(self, entry: BranchEntry, target: DatabricksTarget, ws: Workspace) -> tuple[BranchEntry, bool]:
        """The branch's folder, created with its permissions on the first sync (or when deleted by hand)."""
        assert self.bw is not None
        if entry.folder:
            there = ws.get_status(entry.folder)
            if there is not None and there.object_type == "DIRECTORY":
                return entry, False
        owner = find_user(ws, entry.pusher_emails)
        if owner is None and "{author_email}" in self.bw.folder:
            who = ", ".join(entry.pusher_emails) or f"pusher {entry.pusher or 'unknown'} (no e-mail known)"
            raise BranchRefused(f"the folder owner cannot be resolved: {who} is not a user of workspace "
                                f"{target.host} (map the git identity to the Entra e-mail in 'people')",
                                code="owner_unknown")
        user = owner.user_name if owner else None
        folder = entry.folder or branch_folder(self.bw.folder, entry.branch, user)
        if posixpath.dirname(folder) != root_of(self.bw.folder, user if entry.owner is None else entry.owner):
            raise BranchRefused(f"branch folder {folder!r} is not in its configured root", code="outside_root")
        clash = overlaps_target(self.orch.config, target.host, folder)
        if clash:
            raise BranchRefused(f"branch folder {folder!r} overlaps the synced folder of environment {clash}",
                                code="overlaps_target")
        there = ws.get_status(folder)
        if there is not None and not entry.folder:
            raise BranchRefused(f"{folder!r} already exists and was not created for branch {entry.branch!r}; "
                                "nothing was changed (move or delete it, then push again)", code="folder_exists")
        entry = self.registry.update(entry.branch, folder=folder, owner=user) or entry
        ws.mkdirs(folder)
        status = ws.get_status(folder)
        object_id = status.object_id if status else None
        if object_id is not None:
            grant_folder(ws, object_id, user, self.bw.read_groups)
        entry = self.registry.update(entry.branch, object_id=object_id) or entry
        return entry, True

    def _notify(self, rec: DeploymentRecord, entry: BranchEntry, target: DatabricksTarget) -> None:
        from ..release.notify import Notifier

        url = folder_url(target.host, entry.object_id, entry.folder)
        who = entry.owner or entry.pusher or "the pusher"
        text = f"{who}: branch {entry.branch} has its workspace folder {entry.folder}: {url}"
        try:
            Notifier(self.orch.config, self.orch.settings, self.orch.clock, self.ledger).notify(
                self.ledger.get_deployment(rec.id, with_plan=False), "branch_workspace", text)
            self.registry.update(entry.branch, notified=True)
        except Exception:
            log.exception("branch %s: the notification failed", entry.branch)

    # ---------------------------------------------------------------- removal
    def _still_due(self, rec: DeploymentRecord, entry: BranchEntry) -> str | None:
        """Why the removal no longer applies (None: remove)."""
        assert self.bw is not None
        reason = rec.extra.get("reason")
        pushed = entry.last_push_at
        if reason == "deleted" and pushed is not None and rec.queued_at is not None and pushed > rec.queued_at:
            return "the branch was pushed again after its deletion"
        if reason == "merged" and rec.extra.get("source_head"):
            return self._pull_request_still_due(rec, entry)
        if reason == "merged":
            if entry.head != rec.extra.get("head"):
                return f"the branch was pushed again ({entry.head[:12]}) after the merge check"
            main = str(rec.extra.get("main") or "")
            if not (main and entry.head and self.orch.git().is_ancestor(entry.head, main)):
                return f"{entry.head[:12]} is not reachable from {main[:12] or 'main'}"
        if reason == "expired" and pushed is not None \
                and pushed + timedelta(days=self.bw.ttl_days) > self.orch.clock.now():
            return "the branch was pushed again within its time-to-live"
        return None

    def _pull_request_still_due(self, rec: DeploymentRecord, entry: BranchEntry) -> str | None:
        """A merged pull request (squash and rebase too): remove unless the branch moved past what it merged."""
        merged = str(rec.extra.get("source_head") or "")
        if not entry.head or entry.head == merged:
            return None
        try:  # the head the product knows may be older than the merged one (a push not delivered)
            if self.orch.git().is_ancestor(entry.head, merged):
                return None
        except DataOpsError as exc:
            if exc.retryable:
                raise
            return f"the branch head {entry.head[:12]} cannot be compared with {merged[:12]} ({exc.message})"
        return (f"the branch was pushed again ({entry.head[:12]}) after pull request "
                f"#{rec.extra.get('pull_request')} merged {merged[:12]}")

    def _remove(self, rec: DeploymentRecord, entry: BranchEntry | None) -> Outcome:
        branch = str(rec.extra.get("branch"))
        reason = str(rec.extra.get("reason") or "")
        if entry is None or entry.state == "removed":
            return self._end(rec, "succeeded", summary={"deleted": 0},
                             extra={**rec.extra, "note": "the branch workspace was already removed"})
        why_not = self._still_due(rec, entry)
        if why_not:
            if entry.state == "removing" and entry.removal_deployment_id == rec.id:
                self.registry.update(branch, state="active", removal_deployment_id="", removal_reason="")
            return self._end(rec, "superseded", error=f"not removed: {why_not}")
        plan = Plan(rec.component, rec.environment, rec.commit,
                    (PlannedAction("delete", "directory", entry.folder, reason=f"branch {reason}"),)
                    if entry.folder else (), data={"branch": branch, "folder": entry.folder, "reason": reason})
        self.ledger.update_deployment(rec.id, plan=plan.to_json(), extra={**rec.extra, "folder": entry.folder,
                                                                          "owner": entry.owner})
        self.ledger.transition(rec.id, "running")
        results: list[ObjectResult] = []
        if entry.folder:
            assert self.bw is not None
            target = self.target(rec.environment)
            if posixpath.dirname(entry.folder) != root_of(self.bw.folder, entry.owner) \
                    or overlaps_target(self.orch.config, target.host, entry.folder):
                return self._end(rec, "failed", error=f"{entry.folder!r} is not a branch folder of the configured "
                                                      "root; nothing was deleted")
            try:
                self.workspace(target).delete(entry.folder, recursive=True)
                results.append(ObjectResult("directory", entry.folder, "delete", "succeeded"))
            except WorkspaceCallError as exc:
                results.append(ObjectResult("directory", entry.folder, "delete", "failed", str(exc)[:500]))
                self.ledger.record_objects(rec.id, results)
                return self._end(rec, "failed", error=f"the folder could not be deleted: {exc}",
                                 summary={"delete_failed": 1})
            self._forget_state(rec.environment, target.host, entry.folder)
            self.ledger.record_objects(rec.id, results)
        self.registry.update(branch, state="removed", removed_at=self.orch.clock.now(), removal_reason=reason,
                             removal_deployment_id=rec.id)
        return self._end(rec, "succeeded", summary={"delete_succeeded": len(results), "succeeded": len(results)},
                         plan_obj=plan)

    def _forget_state(self, environment: str, host: str, folder: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        storage = self.orch.storage
        try:
            storage.container(storage.names.state_container).delete_blob(state_blob(environment, host, folder))
        except ResourceNotFoundError:
            pass
