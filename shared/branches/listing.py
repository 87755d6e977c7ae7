"""The branch workspaces as ``GET /api/branches`` and ``dataops branches list`` show them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..audit.queries import reject_unknown
from ..errors import BadRequest
from .registry import BranchEntry, BranchRegistry

STATES = ("active", "removing", "removed", "all")
PARAMS = frozenset({"state", "branch", "code"})


@dataclass(frozen=True)
class BranchQuery:
    state: str = "current"  # current = active and removing
    branch: str | None = None

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> BranchQuery:
        reject_unknown(params, PARAMS)
        state = (params.get("state") or "").strip() or "current"
        if state not in (*STATES, "current"):
            raise BadRequest(f"state must be one of {', '.join(STATES)}, not {state!r}", code="invalid_state")
        branch = (params.get("branch") or "").strip() or None
        if branch is not None and len(branch) > 1024:
            raise BadRequest("branch is longer than 1024 characters", code="invalid_branch")
        return cls(state, branch)

    def wants(self, e: BranchEntry) -> bool:
        if self.branch is not None and e.branch != self.branch:
            return False
        if self.state == "current":
            return e.state != "removed"
        return self.state == "all" or e.state == self.state


def describe(e: BranchEntry, now: datetime, ttl_days: float | None) -> dict[str, Any]:
    """branch, folder, owner, last sync, age (and when it expires without a push)."""
    d = e.to_json(now)
    d["last_sync"] = {"at": d.pop("last_sync_at"), "status": d.pop("last_sync_status") or None,
                      "deployment_id": d.pop("last_deployment_id") or None,
                      "commit": d.pop("synced_commit") or None}
    if ttl_days is not None and e.last_push_at is not None and e.state != "removed":
        d["expires_at"] = (e.last_push_at + timedelta(days=ttl_days)).isoformat()
    return d


def list_branches(ctx: Any, query: BranchQuery) -> list[dict[str, Any]]:
    """Newest push first."""
    bw = ctx.config.databricks.branch_workspaces
    ttl = bw.ttl_days if bw is not None else None
    now = ctx.clock.now()
    entries = [e for e in BranchRegistry(ctx.storage).all() if query.wants(e)]
    entries.sort(key=lambda e: (e.last_push_at or e.created_at or now), reverse=True)
    return [describe(e, now, ttl) for e in entries]
