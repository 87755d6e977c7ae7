"""Sync state kept next to the app (Table storage), so a fresh worker knows what is deployed.

One partition per environment and workspace folder; one row per notebook we
imported: the content hash we uploaded and the workspace's fingerprint of the
object right after our import (see ``plan.fingerprint``). Without local files a
new worker reads one partition (one request per 1,000 notebooks) and uploads
only what changed. Like Flux's inventory: state the deployer owns.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..storage import StorageAccount


@dataclass(frozen=True)
class StateEntry:
    """What we last put at ``path`` and how the workspace described it afterwards."""

    path: str
    content_hash: str
    fingerprint: str | None = None  # None: unknown (drift cannot be told for this one)
    commit: str = ""
    synced_at: str = ""


def _row_key(path: str) -> str:
    # Workspace paths contain '/', which Table keys forbid: the key is a hash, the path a property.
    return hashlib.sha256(path.encode()).hexdigest()[:40]


def partition_key(environment: str, host: str, target_dir: str) -> str:
    """A new host or target folder starts from empty state instead of trusting another workspace's."""
    where = hashlib.sha256(f"{host.rstrip('/').lower()}\x1f{target_dir}".encode()).hexdigest()[:12]
    return f"notebooks-{environment}-{where}"


class NotebookState:
    """The notebook sync state of one environment's workspace folder, in the app's state table."""

    def __init__(self, storage: StorageAccount, partition: str) -> None:
        self._table = storage.table(storage.names.state_table)
        self._service = storage.table_service
        self._name = storage.names.state_table
        self.partition = partition

    def load(self) -> dict[str, StateEntry]:
        """Every entry of the partition, by workspace path (empty when nothing was synced yet)."""
        from azure.core.exceptions import ResourceNotFoundError

        flt = "PartitionKey eq @pk"
        try:
            rows = list(self._table.query_entities(flt, parameters={"pk": self.partition}))
        except ResourceNotFoundError:
            return {}
        out: dict[str, StateEntry] = {}
        for e in rows:
            out[e["path"]] = StateEntry(e["path"], e["content_hash"], e.get("fingerprint") or None,
                                        e.get("commit", ""), e.get("synced_at", ""))
        return out

    def _submit(self, ops: list[tuple[str, dict[str, Any]]]) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

        def submit(chunk: Any) -> None:
            try:
                self._table.submit_transaction(chunk)
            except ResourceNotFoundError:
                try:
                    self._service.create_table(self._name)
                except ResourceExistsError:
                    pass
                self._table.submit_transaction(chunk)

        # A table transaction holds at most 100 operations; chunks are independent, so sent in parallel.
        chunks = [ops[i:i + 100] for i in range(0, len(ops), 100)]
        if len(chunks) <= 1:
            for c in chunks:
                submit(c)
            return
        with ThreadPoolExecutor(max_workers=min(8, len(chunks)), thread_name_prefix="nb-state") as pool:
            list(pool.map(submit, chunks))

    def save(self, entries: Iterable[StateEntry], removed: Iterable[str] = ()) -> None:
        """Upsert ``entries`` and forget ``removed`` paths (atomically per 100 rows)."""
        ops: list[tuple[str, dict[str, Any]]] = []
        for s in entries:
            ops.append(("upsert", {"PartitionKey": self.partition, "RowKey": _row_key(s.path), "path": s.path,
                                   "content_hash": s.content_hash, "fingerprint": s.fingerprint or "",
                                   "commit": s.commit, "synced_at": s.synced_at}, ))
        for path in removed:
            ops.append(("delete", {"PartitionKey": self.partition, "RowKey": _row_key(path)}))
        # A delete of a row that does not exist fails the whole transaction: send deletes on their own.
        upserts = [o for o in ops if o[0] == "upsert"]
        self._submit(upserts)
        for op in ops:
            if op[0] == "delete":
                self._delete(op[1])

    def _delete(self, entity: dict[str, Any]) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self._table.delete_entity(entity["PartitionKey"], entity["RowKey"])
        except ResourceNotFoundError:
            pass
