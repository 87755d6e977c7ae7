"""The Databricks workspace as the notebook sync needs it, over ``databricks-sdk``.

Every method is one API request that raises :class:`WorkspaceCallError`
(classified: 429 with Retry-After, 5xx, not found, other) and is run through
the :class:`AdaptivePacer`, which owns retries. The SDK retries 429/503 on its
own, sleeping Retry-After plus up to a second *inside* the calling thread
where nothing can see it; that stalls the pool during a 429 storm and hides
the signal the pacer needs. So the client gets a clock whose ``sleep`` hands
the failure back to us instead of sleeping (the SDK's retry loop always asks
its clock before retrying; :mod:`shared.databricks.calls`). A host that does
not answer at all ends as :class:`~shared.errors.Unavailable` naming it. ``workspace.upload`` (multipart, > 10 MB) does not
retry in the SDK at all, and goes through the same pacer.
"""

from __future__ import annotations

import base64
import posixpath
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import TYPE_CHECKING, Any, TypeVar

from .. import telemetry
from ..databricks.calls import HandBack, as_unavailable, classify, no_retry_clock
from ..telemetry import ContextPool as ThreadPoolExecutor  # tasks stay in the caller's trace
from ..timeouts import timeouts_of
from .plan import RemoteObject
from .throttle import AdaptivePacer, WorkspaceCallError

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient

    from ..config import DatabricksTarget
    from ..settings import Settings

T = TypeVar("T")
MAX_JSON_IMPORT = 10 * 1024 * 1024  # the JSON import body limit; larger notebooks use multipart


_HandBack = HandBack  # the SDK's retry loop hands its retries back (shared.databricks.calls)
_no_retry_clock = no_retry_clock


class Workspace:
    """One workspace: list, import, mkdirs, delete, get_status, export; paced and retried."""

    def __init__(self, client: WorkspaceClient, pacer: AdaptivePacer) -> None:
        # Databricks rate-limits per endpoint (imports ~30/s): each endpoint gets its own learnt rate,
        # so a slowed-down import stream does not slow the listing or the deletes.
        self.client, self.pacer = client, pacer
        self._pacers: dict[str, AdaptivePacer] = {"import": pacer}
        self._lock = threading.Lock()

    def pacer_for(self, endpoint: str) -> AdaptivePacer:
        with self._lock:
            if endpoint not in self._pacers:
                self._pacers[endpoint] = self.pacer.sibling()
            return self._pacers[endpoint]

    @property
    def throttles(self) -> int:
        return sum(p.throttles for p in self._pacers.values())

    @property
    def retries(self) -> int:
        return sum(p.retries for p in self._pacers.values())

    @classmethod
    def connect(cls, target: DatabricksTarget, settings: Settings, pacer: AdaptivePacer,
                **config: Any) -> Workspace:
        from ..databricks.client import workspace_client

        pool = max(20, pacer.max_parallel + 4)
        client = workspace_client(target, settings, clock=_no_retry_clock(), max_connection_pools=pool,
                                  max_connections_per_pool=pool, **config)
        ws = cls(client, pacer)
        ws.host, ws.timeouts = target.host, timeouts_of(target).of("databricks")
        return ws

    host: str = "?"
    timeouts: tuple[float, float] = (5.0, 60.0)

    def _call(self, endpoint: str, fn: Callable[[], T]) -> T:
        def once() -> T:
            try:
                return fn()
            except Exception as exc:
                raise classify(exc) from None
        try:
            return self.pacer_for(endpoint).call(once)
        except WorkspaceCallError as err:
            down = as_unavailable(err, self.host, self.timeouts)
            if down is not None:
                raise down from None
            raise

    # -- reads ------------------------------------------------------------------------
    @staticmethod
    def _remote(o: Any) -> RemoteObject:
        def value(x: Any) -> str | None:
            return None if x is None else str(getattr(x, "value", x))
        return RemoteObject(o.path, value(o.object_type) or "FILE", value(o.language), o.modified_at, o.object_id)

    def get_status(self, path: str) -> RemoteObject | None:
        """The object at ``path``, or None when there is none."""
        try:
            return self._remote(self._call("get-status", lambda: self.client.workspace.get_status(path)))
        except WorkspaceCallError as exc:
            if exc.not_found:
                return None
            raise

    def list_dir(self, path: str) -> list[RemoteObject]:
        """The direct children of folder ``path`` (empty when it does not exist)."""
        from databricks.sdk.service.workspace import WorkspaceAPI

        try:
            # The generated (non-recursive) list: one request per folder.
            items = self._call("list", lambda: list(WorkspaceAPI.list(self.client.workspace, path)))
        except WorkspaceCallError as exc:
            if exc.not_found:
                return []
            raise
        return [self._remote(o) for o in items]

    def list_tree(self, root: str, max_parallel: int = 8) -> dict[str, RemoteObject]:
        """Everything under ``root`` (``root`` included when it exists), folders listed in parallel."""
        top = self.get_status(root)
        if top is None:
            return {}
        out = {root: top}
        if top.object_type != "DIRECTORY":
            return out
        with ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="ws-list") as pool:
            pending: set[Future[list[RemoteObject]]] = {pool.submit(self.list_dir, root)}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    for o in f.result():
                        out[o.path] = o
                        if o.object_type == "DIRECTORY":
                            pending.add(pool.submit(self.list_dir, o.path))
        return out

    def export(self, path: str) -> bytes:
        """The notebook's source as the workspace holds it (one request)."""
        res = self._call("export", lambda: self.client.workspace.export(path))
        return base64.b64decode(res.content or "")

    # -- writes -------------------------------------------------------------------------
    def mkdirs(self, path: str) -> None:
        self._call("mkdirs", lambda: self.client.workspace.mkdirs(path))

    def delete(self, path: str, *, recursive: bool = False) -> None:
        """Delete ``path``; already gone counts as done."""
        try:
            self._call("delete", lambda: self.client.workspace.delete(path, recursive=recursive))
        except WorkspaceCallError as exc:
            if not exc.not_found:
                raise

    def import_notebook(self, path: str, content: bytes, language: str, fmt: str) -> None:
        """Create or overwrite the notebook at ``path`` (multipart upload above 10 MB)."""
        from databricks.sdk.service.workspace import ImportFormat, Language

        f = ImportFormat(fmt)
        lang = Language(language) if fmt == "SOURCE" else None
        encoded_len = (len(content) + 2) // 3 * 4
        with telemetry.counted("notebook_imports", format=fmt):
            self._import(path, content, f, lang, encoded_len)

    def _import(self, path: str, content: bytes, f: Any, lang: Any, encoded_len: int) -> None:
        if encoded_len <= MAX_JSON_IMPORT:
            body = base64.b64encode(content).decode()
            self._call("import", lambda: self.client.workspace.import_(path, content=body, format=f, language=lang,
                                                              overwrite=True))
        else:
            self._call("import", lambda: self.client.workspace.upload(path, content, format=f, language=lang,
                                                             overwrite=True))

    @staticmethod
    def parent(path: str) -> str:
        return posixpath.dirname(path)
