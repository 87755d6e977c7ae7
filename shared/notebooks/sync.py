"""Apply a notebook plan: folders parents first, imports in parallel, then deletes.

One failure never stops the others; each object gets an ObjectResult. Only
successful imports move the sync state forward, so a failed notebook keeps its
old state and the next run retries it.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from ..audit.records import ObjectResult
from ..deploy.model import PlannedAction
from ..telemetry import ContextPool as ThreadPoolExecutor  # tasks stay in the caller's trace
from .discovery import NotebookSource
from .plan import RemoteObject, fingerprint
from .state import StateEntry
from .throttle import WorkspaceCallError
from .workspace import Workspace

T = TypeVar("T")
A = TypeVar("A")


@dataclass
class SyncOutcome:
    results: list[ObjectResult] = field(default_factory=list)
    synced: list[StateEntry] = field(default_factory=list)  # state to upsert
    removed: list[str] = field(default_factory=list)  # state rows to forget

    @property
    def failed(self) -> list[ObjectResult]:
        return [r for r in self.results if r.status == "failed"]


def _parallel(fn: Callable[[A], T], items: Iterable[A], max_parallel: int) -> list[T]:
    items = list(items)
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(max_parallel, len(items))),
                            thread_name_prefix="nb-sync") as pool:
        return list(pool.map(fn, items))


def _error(exc: BaseException) -> str:
    return str(exc)[:500] or type(exc).__name__


class NotebookSync:
    """Carries out the folder, notebook and delete actions of one plan against one workspace."""

    def __init__(self, workspace: Workspace, *, max_parallel: int, commit: str, synced_at: str) -> None:
        self.ws, self.max_parallel, self.commit, self.synced_at = workspace, max_parallel, commit, synced_at

    def folders(self, actions: Sequence[PlannedAction]) -> tuple[list[ObjectResult], set[str]]:
        """Create folders one depth level at a time (parents first), each once. Returns failed folders."""
        results: list[ObjectResult] = []
        failed: set[str] = set()
        by_depth: dict[int, list[PlannedAction]] = {}
        for a in actions:
            by_depth.setdefault(a.name.count("/"), []).append(a)

        def make(a: PlannedAction) -> ObjectResult:
            if any(a.name.startswith(f + "/") for f in failed):
                return ObjectResult("directory", a.name, a.action, "failed", "parent folder could not be created")
            try:
                if a.details.get("replace"):
                    self.ws.delete(a.name, recursive=False)
                self.ws.mkdirs(a.name)
                return ObjectResult("directory", a.name, a.action, "succeeded")
            except WorkspaceCallError as exc:
                return ObjectResult("directory", a.name, a.action, "failed", _error(exc))

        for depth in sorted(by_depth):
            level = _parallel(make, by_depth[depth], self.max_parallel)
            failed.update(r.name for r in level if r.status == "failed")
            results.extend(level)
        return results, failed

    def imports(self, actions: Sequence[PlannedAction], sources: Mapping[str, NotebookSource],
                failed_folders: set[str]) -> list[ObjectResult]:
        """Import every notebook in parallel under the pacer; failures are results, not exceptions."""

        def one(a: PlannedAction) -> ObjectResult:
            nb = sources[a.name]
            base = {"source": nb.source_path, "language": nb.language, "size": nb.size}
            if any(a.name.startswith(f + "/") for f in failed_folders):
                return ObjectResult("notebook", a.name, a.action, "failed", "parent folder could not be created",
                                    base)
            try:
                if a.details.get("replace"):
                    self.ws.delete(a.name, recursive=True)
                self.ws.import_notebook(a.name, nb.content, nb.language, nb.format)
                return ObjectResult("notebook", a.name, a.action, "succeeded", None,
                                    {**base, "reason": a.reason})
            except WorkspaceCallError as exc:
                return ObjectResult("notebook", a.name, a.action, "failed", _error(exc),
                                    {**base, "status": exc.status})

        return _parallel(one, actions, self.max_parallel)

    def fingerprints(self, paths: Sequence[str]) -> dict[str, str | None]:
        """The workspace's fingerprint of just-imported notebooks: one listing per folder touched,
        an export only where the listing has no ``modified_at``."""
        folders = sorted({posixpath.dirname(p) for p in paths})
        listed: dict[str, RemoteObject] = {}

        def ls(folder: str) -> list[RemoteObject]:
            try:
                return self.ws.list_dir(folder)
            except WorkspaceCallError:
                return []  # unknown fingerprint: drift for these cannot be told next time

        for items in _parallel(ls, folders, self.max_parallel):
            listed.update((o.path, o) for o in items)

        def fp(path: str) -> str | None:
            obj = listed.get(path)
            if obj is None:
                return None
            if obj.modified_at is None:
                try:
                    return fingerprint(obj, hashlib.sha256(self.ws.export(path)).hexdigest())
                except WorkspaceCallError:
                    return None
            return fingerprint(obj)

        return dict(zip(paths, _parallel(fp, paths, self.max_parallel), strict=True))

    def deletes(self, actions: Sequence[PlannedAction]) -> list[ObjectResult]:
        def one(a: PlannedAction) -> ObjectResult:
            try:
                self.ws.delete(a.name, recursive=bool(a.details.get("recursive")))
                return ObjectResult(a.object_type, a.name, "delete", "succeeded", None, {"reason": a.reason})
            except WorkspaceCallError as exc:
                return ObjectResult(a.object_type, a.name, "delete", "failed", _error(exc), {"status": exc.status})

        return _parallel(one, actions, self.max_parallel)

    def state_for(self, imported: Sequence[ObjectResult], sources: Mapping[str, NotebookSource]) -> list[StateEntry]:
        ok = [r.name for r in imported if r.status == "succeeded"]
        fps = self.fingerprints(ok)
        return [StateEntry(p, sources[p].content_hash, fps.get(p), self.commit, self.synced_at) for p in ok]
