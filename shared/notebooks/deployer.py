"""The notebooks component: Git's notebooks overwrite each environment's shared workspace folder."""

from __future__ import annotations

import hashlib
import posixpath
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..audit.records import Activity, ObjectResult
from ..deploy.model import ApplyResult, DeployContext, Plan
from ..errors import BadRequest
from ..timeouts import timeouts_of
from .discovery import Discovery, discover
from .limits import path_problem
from .plan import RemoteObject, deleted_share, deletes_everything, fingerprint, plan_actions
from .state import NotebookState, StateEntry, state_blob
from .sync import NotebookSync, _parallel
from .throttle import AdaptivePacer, RetryPolicy, WorkspaceCallError
from .workspace import Workspace

if TYPE_CHECKING:
    from ..config import DatabricksTarget

COMPONENT = "notebooks"


@dataclass
class _Observed:
    target: DatabricksTarget
    discovery: Discovery
    remote: dict[str, RemoteObject]
    state: dict[str, StateEntry]
    fingerprints: dict[str, str | None]
    exports: int


class NotebookDeployer:
    """Plan and apply notebook deployments (the ``notebooks`` component of ``shared.deploy.components``)."""

    component = COMPONENT

    def __init__(self, *, workspace: Workspace | None = None, rng: random.Random | None = None) -> None:
        self._workspace = workspace  # tests and benchmarks may pass one in
        self._rng = rng or random.Random()

    # -- wiring ---------------------------------------------------------------------
    def _target(self, ctx: DeployContext) -> DatabricksTarget | None:
        return ctx.env.databricks

    def workspace(self, ctx: DeployContext, target: DatabricksTarget) -> Workspace:
        if self._workspace is None:
            pacer = AdaptivePacer(target.max_parallel, sleep=ctx.clock.sleep, monotonic=time.monotonic,
                                  rng=self._rng, policy=RetryPolicy(
                                      throttle_budget_s=target.throttle_budget_s,
                                      max_unreachable_attempts=1 + timeouts_of(target).unreachable_retries))
            self._workspace = Workspace.connect(target, ctx.settings, pacer)
        return self._workspace

    def _state(self, ctx: DeployContext, target: DatabricksTarget) -> NotebookState | None:
        if ctx.storage is None:
            return None
        return NotebookState(ctx.storage, state_blob(ctx.environment, target.host, target.target_dir))

    def _sources(self, ctx: DeployContext, target: DatabricksTarget) -> Discovery:
        files = ctx.snapshot.under(ctx.config.databricks.source_dir)
        return discover(files, target.target_dir)

    # -- plan -------------------------------------------------------------------------
    def _observe(self, ctx: DeployContext, target: DatabricksTarget) -> _Observed:
        found = self._sources(ctx, target)
        ws = self.workspace(ctx, target)
        remote = ws.list_tree(target.target_dir, max_parallel=target.max_parallel)
        store = self._state(ctx, target)
        state = store.load() if store else {}
        # Drift check: free with the listing (modified_at + object_id); an export per notebook only
        # when the workspace does not report modified_at.
        need_export = [p for p, o in remote.items()
                       if o.object_type == "NOTEBOOK" and o.modified_at is None and p in state
                       and (state[p].fingerprint or "").startswith("x:")]

        def exported(path: str) -> str | None:
            try:
                return fingerprint(remote[path], hashlib.sha256(ws.export(path)).hexdigest())
            except WorkspaceCallError:
                return None

        fps: dict[str, str | None] = {p: fingerprint(o) for p, o in remote.items()}
        fps.update(zip(need_export, _parallel(exported, need_export, target.max_parallel), strict=True))
        return _Observed(target, found, remote, state, fps, len(need_export))

    def plan(self, ctx: DeployContext) -> Plan:
        """Git (``ctx.snapshot``) vs the workspace folder and the sync state -> actions."""
        target = self._target(ctx)
        commit = ctx.snapshot.sha
        if target is None:
            return Plan(COMPONENT, ctx.environment, commit,
                        warnings=(f"environment {ctx.environment!r} has no databricks target",))
        with ctx.steps.step("plan", target_dir=target.target_dir):
            obs = self._observe(ctx, target)
        return self._plan_from(ctx, obs)

    def _plan_from(self, ctx: DeployContext, obs: _Observed) -> Plan:
        target = obs.target
        actions = plan_actions(obs.discovery.notebooks, obs.remote, obs.state, target_dir=target.target_dir,
                               delete_removed=target.delete_removed, fingerprints=obs.fingerprints)
        warnings: list[str] = []
        source_dir = ctx.config.databricks.source_dir
        if not ctx.snapshot.has_dir(source_dir) and source_dir.strip("/") not in ("", "."):
            warnings.append(f"the commit has no folder {source_dir!r}: no notebooks to deploy")
        if obs.discovery.skipped:
            warnings.append(f"{len(obs.discovery.skipped)} file(s) under {source_dir!r} are not notebooks "
                            "(no Databricks source header) and are not deployed")
        if ctx.storage is None:
            warnings.append("no storage account: no sync state, every notebook is uploaded")
        refused = None
        if target.delete_removed and deletes_everything(actions, obs.remote, target.target_dir):
            n = sum(1 for a in actions if a.action == "delete")
            if ctx.force:
                warnings.append(f"forced: the plan deletes everything under {target.target_dir} ({n} objects)")
            else:
                refused = (f"the plan deletes everything under {target.target_dir} ({n} objects) and keeps "
                           "nothing; check databricks.source_dir, or force it")
        removed, there = deleted_share(actions, obs.remote, target.target_dir)
        if refused is None and removed and removed > target.max_delete_ratio * there:
            what = (f"the plan deletes {removed} of the {there} objects under {target.target_dir} "
                    f"(more than max_delete_ratio {target.max_delete_ratio:g})")
            if ctx.force:
                warnings.append(f"forced: {what}")
            else:
                refused = f"{what}; check databricks.target_dir and source_dir, or force it"
        too_long = [(a.name, p) for a in actions if a.action != "delete" and (p := path_problem(a.name))]
        if too_long:
            name, problem = too_long[0]
            refused = (f"{len(too_long)} workspace path(s) exceed the workspace's limits, e.g. {name[:120]!r}: "
                       f"{problem}")
        data: dict[str, Any] = {
            "host": target.host, "target_dir": target.target_dir, "delete_removed": target.delete_removed,
            "notebooks": len(obs.discovery.notebooks), "not_notebooks": list(obs.discovery.skipped[:50]),
            "remote_objects": len(obs.remote), "state_entries": len(obs.state),
            "deletes": {"objects": removed, "of": there, "max_ratio": target.max_delete_ratio},
            "drift_check": {"listing": "modified_at+object_id", "exports": obs.exports},
        }
        return Plan(COMPONENT, ctx.environment, ctx.snapshot.sha, tuple(actions), tuple(warnings), refused, data)

    # -- apply ------------------------------------------------------------------------
    def apply(self, ctx: DeployContext, plan: Plan) -> ApplyResult:
        """Folders, imports (parallel, paced), deletes; state moves only for what succeeded."""
        target = self._target(ctx)
        if target is None:
            return ApplyResult("succeeded")
        if plan.refused:
            return ApplyResult("failed", error=f"plan refused: {plan.refused}", failed_step="plan")
        if ctx.dry_run:
            return ApplyResult("succeeded", [ObjectResult(a.object_type, a.name, a.action, "skipped")
                                             for a in plan.actions if a.action != "unchanged"])
        try:
            sources = {nb.workspace_path: nb for nb in self._sources(ctx, target).notebooks}
        except BadRequest as exc:
            return ApplyResult("failed", error=exc.message, failed_step="discover")
        ws = self.workspace(ctx, target)
        sync = NotebookSync(ws, max_parallel=target.max_parallel, commit=ctx.snapshot.sha,
                            synced_at=ctx.clock.now().isoformat())
        self._record_drift(ctx, plan)
        results: list[ObjectResult] = []

        with ctx.steps.step("folders") as rec:
            folder_results, failed_folders = sync.folders(
                [a for a in plan.of("create", "update") if a.object_type == "directory"])
            rec.details["count"] = len(folder_results)
            results += folder_results
        to_import = [a for a in plan.actions if a.object_type == "notebook"
                     and a.action in ("create", "update", "drifted") and a.name in sources]
        with ctx.steps.step("import", notebooks=len(to_import)) as rec:
            imported = sync.imports(to_import, sources, failed_folders)
            rec.details["failed"] = sum(1 for r in imported if r.status == "failed")
            if rec.details["failed"]:
                rec.status = "failed"
            rec.details.update(throttled=ws.throttles, retried=ws.retries)
        results += imported
        synced = sync.state_for(imported, sources)
        deletes = [a for a in plan.actions if a.action == "delete"]
        with ctx.steps.step("delete", objects=len(deletes)) as rec:
            deleted = sync.deletes(deletes)
            rec.details["failed"] = sum(1 for r in deleted if r.status == "failed")
            if rec.details["failed"]:
                rec.status = "failed"
        results += deleted
        removed = self._forget(plan, deleted)
        store = self._state(ctx, target)
        if store is not None:
            with ctx.steps.step("state", saved=len(synced), removed=len(removed)):
                store.save(synced, removed)
        ctx.steps.objects(results)
        return self._result(results)

    @staticmethod
    def _forget(plan: Plan, deleted: list[ObjectResult]) -> list[str]:
        """State rows of deleted objects, including notebooks inside deleted folders."""
        gone = [r.name for r in deleted if r.status == "succeeded"]
        known = [a.name for a in plan.actions if a.object_type == "notebook"]
        removed = set(gone)
        for name in known:
            if any(name.startswith(g + "/") for g in gone):
                removed.add(name)
        return sorted(removed)

    def _record_drift(self, ctx: DeployContext, plan: Plan) -> None:
        if ctx.ledger is None:
            return
        for a in plan.of("drifted"):
            modified_at = a.details.get("modified_at")
            when = (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(modified_at / 1000))
                    if isinstance(modified_at, int) else None)
            ctx.ledger.record_activity(Activity(
                environment=ctx.environment, kind="drift",
                key=f"{ctx.deployment_id or plan.commit}:{a.name}", at=ctx.clock.now(), actor=None,
                status="overwritten",
                summary=f"{a.name} was changed in the workspace since our last sync"
                        + (f" (modified {when})" if when else "") + "; overwritten from Git",
                deployment_id=ctx.deployment_id,
                data={"path": a.name, "component": COMPONENT, "modified_at": when,
                      "modified_by": None, "source": a.details.get("source"),
                      "folder": posixpath.dirname(a.name), "commit": plan.commit}))

    @staticmethod
    def _result(results: list[ObjectResult]) -> ApplyResult:
        failed = [r for r in results if r.status == "failed"]
        if not failed:
            return ApplyResult("succeeded", results)
        by_type: dict[str, int] = {}
        for r in failed:
            by_type[r.object_type] = by_type.get(r.object_type, 0) + 1
        what = ", ".join(f"{n} {t}(s)" for t, n in sorted(by_type.items()))
        return ApplyResult("failed", results, error=f"{len(failed)} of {len(results)} objects failed: {what}",
                           error_details={"failed": len(failed), "total": len(results),
                                          "examples": [{"name": r.name, "error": r.error} for r in failed[:10]]},
                           failed_step="import" if by_type.get("notebook") else "delete")
