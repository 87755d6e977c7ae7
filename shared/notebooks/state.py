"""Sync state kept next to the app (Blob storage), so a fresh worker knows what is deployed.

One JSON document per environment and workspace folder: for each notebook we
imported, the content hash we uploaded and the workspace's fingerprint of the
object right after our import (see ``plan.fingerprint``). A fresh worker reads
it in one request and uploads only what changed; the apply writes it in one
request (a Table partition of 500 rows took 5 batch transactions and ~0.5 s on
Azurite, the blob ~10 ms). Writes are conditional on the ETag read, so two
writers can never silently overwrite each other (the environment lock already
serialises deployments; this is the backstop). Like Flux's inventory: state the
deployer owns.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from ..errors import Conflict

if TYPE_CHECKING:
    from ..storage import StorageAccount

FORMAT = 1


@dataclass(frozen=True)
class StateEntry:
    """What we last put at ``path`` and how the workspace described it afterwards."""

    path: str
    content_hash: str
    fingerprint: str | None = None  # None: unknown (drift cannot be told for this one)
    commit: str = ""
    synced_at: str = ""


def container_name(storage: StorageAccount) -> str:
    return storage.names.state_container


def state_blob(environment: str, host: str, target_dir: str) -> str:
    """A new host or target folder starts from empty state instead of trusting another workspace's."""
    where = hashlib.sha256(f"{host.rstrip('/').lower()}\x1f{target_dir}".encode()).hexdigest()[:12]
    return f"notebooks/{environment}/{where}.json"


class NotebookState:
    """The notebook sync state of one environment's workspace folder, as one blob."""

    def __init__(self, storage: StorageAccount, blob: str) -> None:
        self._container = storage.container(container_name(storage))
        self.blob = blob
        self._etag: str | None = None
        self._current: dict[str, StateEntry] = {}
        self._loaded = False

    def load(self) -> dict[str, StateEntry]:
        """Every entry, by workspace path (empty when nothing was synced yet)."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            downloader = self._container.get_blob_client(self.blob).download_blob()
        except ResourceNotFoundError:
            self._etag, self._current, self._loaded = None, {}, True
            return {}
        self._etag = downloader.properties.etag
        doc = json.loads(downloader.readall())
        self._loaded = True
        self._current = {e["path"]: StateEntry(**e) for e in doc.get("notebooks", [])}
        return dict(self._current)

    def save(self, entries: Iterable[StateEntry], removed: Iterable[str] = ()) -> None:
        """Upsert ``entries`` and forget ``removed`` paths, over the state as last loaded."""
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError

        from ..storage_writes import upload_blob

        current = self._current if self._loaded else self.load()
        merged = dict(current)
        for path in removed:
            merged.pop(path, None)
        for e in entries:
            merged[e.path] = e
        body = json.dumps({"format": FORMAT, "notebooks": [asdict(merged[p]) for p in sorted(merged)]},
                          separators=(",", ":")).encode()
        blob = self._container.get_blob_client(self.blob)
        for _ in range(2):
            try:  # a retry after a reset that finds our own write (412, 409) is a success
                result = upload_blob(blob, body, etag=self._etag)
                self._etag = result.get("etag")
                self._current = merged
                return
            except ResourceNotFoundError:
                try:
                    self._container.create_container()
                except ResourceExistsError:
                    pass
            except (ResourceModifiedError, ResourceExistsError) as exc:
                raise Conflict("notebook sync state was changed by another deployment",
                               code="state_conflict") from exc
        raise Conflict("could not write the notebook sync state", code="state_conflict")
