"""Finding branch workspaces to remove: merged into main, or without a push for ``ttl_days``.

Run by the maintenance timer (every five minutes) and, for merges, right after a push to main
(the webhook queues a merge check). "Merged" means the branch's last pushed head is reachable
from main's head (``GitSource.is_ancestor``: merge commits and fast-forwards; a squash or
rebase merge makes new commits, so those branches go when they are deleted or expire).
Each removal is its own ``trigger: branch`` deployment (queued, locked, audited); the branch
is marked ``removing`` so a later sweep does not queue it twice (unless that removal is an
hour old and still not done).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ..deploy.lifecycle import open_deployment
from ..errors import DataOpsError
from .intake import removal_opening
from .registry import BranchEntry, BranchRegistry

if TYPE_CHECKING:
    from ..audit.ledger import AuditLedger
    from ..clock import Clock
    from ..config import PlatformConfig
    from ..deploy.queue import DeploymentQueue
    from ..git.hosts import GitSource
    from ..storage import StorageAccount

log = logging.getLogger(__name__)

STALE_REMOVAL = timedelta(hours=1)


@dataclass
class SweepReport:
    removals: list[dict[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"branch_removals": self.removals, **({"branch_errors": self.errors} if self.errors else {})}


@dataclass
class BranchSweep:
    config: PlatformConfig
    storage: StorageAccount
    ledger: AuditLedger
    clock: Clock
    queue: DeploymentQueue | None
    git: GitSource | None = None

    def due(self, entry: BranchEntry, main: str | None, *, ttl_only: bool = False) -> str | None:
        """``expired``, ``merged`` or None."""
        bw = self.config.databricks.branch_workspaces
        assert bw is not None
        now = self.clock.now()
        if entry.state == "removing":
            if entry.removal_queued_at is not None and now - entry.removal_queued_at < STALE_REMOVAL:
                return None
        elif entry.state != "active":
            return None
        if entry.last_push_at is not None and entry.last_push_at + timedelta(days=bw.ttl_days) <= now:
            return "expired"
        if not ttl_only and main and entry.head and self.git is not None and self.git.is_ancestor(entry.head, main):
            return "merged"
        return None

    def run(self, main: str | None = None, *, ttl_only: bool = False) -> SweepReport:
        """Queue the removal of every branch workspace that is due; ``main`` defaults to main's head."""
        report = SweepReport()
        if self.config.databricks.branch_workspaces is None:
            return report
        registry = BranchRegistry(self.storage)
        entries = [e for e in registry.all() if e.state in ("active", "removing")]
        if not entries:
            return report
        if main is None and not ttl_only and self.git is not None:
            try:
                main = self.git.resolve(self.config.repository.main_branch)
            except DataOpsError as exc:
                report.errors.append(f"main branch: {exc.message}")
        for entry in entries:
            try:
                reason = self.due(entry, main, ttl_only=ttl_only)
                if reason is not None:
                    report.removals.append(self._queue(registry, entry, reason, main))
            except DataOpsError as exc:
                report.errors.append(f"{entry.branch}: {exc.message}")
        return report

    def _queue(self, registry: BranchRegistry, entry: BranchEntry, reason: str, main: str | None) -> dict[str, str]:
        extra = {"main": main} if reason == "merged" and main else {}
        seed = f"remove:{entry.branch}:{reason}:{entry.head}:{main or ''}"
        rec = open_deployment(self.ledger, self.queue, removal_opening(entry, reason, seed=seed, extra=extra,
                                                                     repository=self.config.repository.url))
        registry.save(entry, state="removing", removal_deployment_id=rec.id, removal_reason=reason,
                      removal_queued_at=self.clock.now())
        log.info("branch %s: removal queued (%s) as %s", entry.branch, reason, rec.id)
        return {"branch": entry.branch, "reason": reason, "deployment": rec.id}


def sweep(ctx: Any, main: str | None = None, *, ttl_only: bool = False) -> SweepReport:
    """The sweep of an :class:`~shared.app.AppContext`."""
    from ..deploy.queue import DeploymentQueue
    from ..git.hosts import source_for

    git = None if ttl_only else source_for(ctx.config.repository, ctx.settings)
    return BranchSweep(ctx.config, ctx.storage, ctx.ledger, ctx.clock, DeploymentQueue(ctx.storage), git).run(
        main, ttl_only=ttl_only)
