"""The branch workspaces that exist: one row per branch in the state table.

PartitionKey ``branches``, RowKey the digest of the branch's :func:`~shared.branches.names.collision_key`,
so two branches that would share a folder find the same row (the second is refused), and a
branch is found with one point read. Rows move under optimistic concurrency (ETag); a removed
branch keeps its row (state ``removed``) for the listing until it is pushed again.

States: ``active`` (pushed; its folder exists once the first sync ran), ``removing`` (a removal
deployment is queued: deleted, merged or expired), ``removed``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime
from typing import Any

from ..errors import Conflict, Unavailable
from ..storage import StorageAccount
from ..storage_writes import create_entity, update_entity
from .names import collision_key

PARTITION = "branches"


@dataclass(frozen=True)
class BranchEntry:
    branch: str
    environment: str
    state: str = "active"  # active | removing | removed
    head: str = ""  # the last pushed commit
    pusher: str | None = None  # who pushed it first (git identity)
    pusher_emails: tuple[str, ...] = ()  # the e-mails the owner is looked up by
    created_at: datetime | None = None
    last_push_at: datetime | None = None
    folder: str = ""  # set by the first sync
    owner: str | None = None  # the workspace user given CAN_MANAGE
    object_id: int | None = None
    synced_commit: str = ""
    last_sync_at: datetime | None = None
    last_sync_status: str = ""
    last_deployment_id: str = ""
    removal_deployment_id: str = ""
    removal_reason: str = ""
    removal_queued_at: datetime | None = None
    removed_at: datetime | None = None
    notified: bool = False
    etag: str | None = None

    def to_json(self, now: datetime | None = None) -> dict[str, Any]:
        d = {k: (v.isoformat() if isinstance(v, datetime) else list(v) if isinstance(v, tuple) else v)
             for k, v in asdict(self).items() if k not in ("etag", "pusher_emails")}
        if now is not None and self.created_at is not None:
            d["age_seconds"] = round((now - self.created_at).total_seconds())
        return d


_TIMES = ("created_at", "last_push_at", "last_sync_at", "removal_queued_at", "removed_at")


def row_key(branch: str) -> str:
    return hashlib.sha256(collision_key(branch).encode()).hexdigest()[:40]


def _entity(entry: BranchEntry) -> dict[str, Any]:
    data = {k: (v.isoformat() if isinstance(v, datetime) else list(v) if isinstance(v, tuple) else v)
            for k, v in asdict(entry).items() if k != "etag"}
    return {"PartitionKey": PARTITION, "RowKey": row_key(entry.branch), "branch": entry.branch,
            "state": entry.state, "data": json.dumps(data, sort_keys=True)}


def _entry(e: Any) -> BranchEntry:
    d = json.loads(e.get("data") or "{}")
    kw: dict[str, Any] = {}
    for f in fields(BranchEntry):
        if f.name not in d or f.name == "etag":
            continue
        v = d[f.name]
        if f.name in _TIMES and v:
            v = datetime.fromisoformat(v)
        elif f.name == "pusher_emails":
            v = tuple(v or ())
        kw[f.name] = v
    return BranchEntry(**kw, etag=e.metadata.get("etag"))


class BranchRegistry:
    def __init__(self, storage: StorageAccount) -> None:
        self.table = storage.table(storage.names.state_table)

    def _unreachable(self, exc: Exception) -> None:
        from azure.core.exceptions import ServiceRequestError, ServiceResponseError

        if isinstance(exc, ServiceRequestError | ServiceResponseError):
            raise Unavailable("state storage is unreachable") from exc

    def get(self, branch: str) -> BranchEntry | None:
        """The row of ``branch`` -- or of another branch that collides with it (compare ``.branch``)."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return _entry(self.table.get_entity(PARTITION, row_key(branch)))
        except ResourceNotFoundError:
            return None
        except Exception as exc:
            self._unreachable(exc)
            raise

    def create(self, entry: BranchEntry) -> BranchEntry | None:
        """Insert ``entry``; None when a row with its key exists already."""
        from azure.core.exceptions import ResourceExistsError

        try:
            meta = create_entity(self.table, _entity(entry))
        except ResourceExistsError:
            return None
        return replace(entry, etag=meta.get("etag"))

    def save(self, entry: BranchEntry, **changes: Any) -> BranchEntry:
        """Write ``entry`` with ``changes`` if the row is still as read (else Conflict ``branch_changed``)."""
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        new = replace(entry, **changes)
        try:
            meta = update_entity(self.table, _entity(new), etag=entry.etag)
        except (ResourceModifiedError, ResourceNotFoundError) as exc:
            raise Conflict(f"branch workspace {entry.branch!r} was changed meanwhile", code="branch_changed") from exc
        return replace(new, etag=meta.get("etag"))

    def update(self, branch: str, **changes: Any) -> BranchEntry | None:
        """Read-modify-write with retries on a concurrent change; None when there is no row."""
        for _ in range(5):
            current = self.get(branch)
            if current is None or current.branch != branch:
                return None
            try:
                return self.save(current, **changes)
            except Conflict:
                continue
        raise Conflict(f"branch workspace {branch!r} keeps changing", code="branch_changed")

    def all(self, state: str | None = None) -> Iterator[BranchEntry]:
        query = f"PartitionKey eq '{PARTITION}'" + (f" and state eq '{state}'" if state else "")
        for e in self.table.query_entities(query):
            yield _entry(e)
