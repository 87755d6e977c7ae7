"""Desired notebooks (Git) vs observed workspace and sync state -> planned actions. Pure."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..deploy.model import PlannedAction
from .discovery import NotebookSource
from .state import StateEntry

NOTEBOOK, DIRECTORY, FILE = "NOTEBOOK", "DIRECTORY", "FILE"


@dataclass(frozen=True)
class RemoteObject:
    """One workspace object as listed (``workspace.list``)."""

    path: str
    object_type: str  # NOTEBOOK | DIRECTORY | FILE | LIBRARY | REPO | DASHBOARD
    language: str | None = None
    modified_at: int | None = None
    object_id: int | None = None


def fingerprint(obj: RemoteObject, exported_hash: str | None = None) -> str | None:
    """How the workspace describes a notebook, to tell a hand edit since our last import.

    The API has no content hash. ``modified_at`` and ``object_id`` come free with
    the folder listing: an edit moves ``modified_at``, a delete-and-recreate changes
    ``object_id``. Equality is compared, never order, so clock skew does not matter.
    When the listing carries no ``modified_at`` the deployer exports the notebook and
    passes the hash of the export instead (one request per notebook).
    """
    if obj.modified_at is not None:
        return f"m:{obj.modified_at}:{obj.object_id}"
    if exported_hash is not None:
        return f"x:{exported_hash}"
    return None


def _kind(object_type: str) -> str:
    return {NOTEBOOK: "notebook", DIRECTORY: "directory"}.get(object_type, "file")


def parents(path: str, root: str) -> list[str]:
    """Folders between ``root`` (included) and ``path`` (excluded), parents first."""
    out: list[str] = []
    d = posixpath.dirname(path)
    while d.startswith(root) and len(d) >= len(root):
        out.append(d)
        if d == root:
            break
        d = posixpath.dirname(d)
    return list(reversed(out))


def plan_actions(desired: Sequence[NotebookSource], remote: Mapping[str, RemoteObject],
                 state: Mapping[str, StateEntry], *, target_dir: str, delete_removed: bool,
                 fingerprints: Mapping[str, str | None] | None = None) -> list[PlannedAction]:
    """The actions that make ``target_dir`` match Git.

    ``remote``: every object under ``target_dir`` (``target_dir`` itself included
    when it exists). ``fingerprints``: the current fingerprint of remote notebooks
    (defaults to :func:`fingerprint` of the listing). Order of the result is the
    order of apply: folders parents first, then imports, then deletes, so a rename
    creates the new notebook before the old one goes.
    """
    fps = fingerprints if fingerprints is not None else {p: fingerprint(o) for p, o in remote.items()}
    wanted_dirs: set[str] = set()
    for nb in desired:
        wanted_dirs.update(parents(nb.workspace_path, target_dir))
    actions = _folder_actions(wanted_dirs, remote)
    actions += [_notebook_action(nb, remote.get(nb.workspace_path), state.get(nb.workspace_path),
                                 fps.get(nb.workspace_path)) for nb in desired]
    if delete_removed:
        keep = {nb.workspace_path for nb in desired} | wanted_dirs | {target_dir}
        actions += _delete_actions(remote, state, keep)
    return actions


def _folder_actions(wanted_dirs: set[str], remote: Mapping[str, RemoteObject]) -> list[PlannedAction]:
    """Folders to create (parents first), or to replace when something else is in the way."""
    actions: list[PlannedAction] = []
    for d in sorted(wanted_dirs, key=lambda p: (p.count("/"), p)):
        r = remote.get(d)
        if r is None:
            actions.append(PlannedAction("create", "directory", d, "folder of notebooks in Git"))
        elif r.object_type != DIRECTORY:
            actions.append(PlannedAction("update", "directory", d,
                                         f"a {r.object_type} is in the way of a folder: replaced",
                                         {"replace": True}))
    return actions


def _notebook_action(nb: NotebookSource, r: RemoteObject | None, st: StateEntry | None,
                     found: str | None) -> PlannedAction:
    """What one notebook of Git needs, given what the workspace holds (``r``) and our last sync (``st``)."""
    path = nb.workspace_path
    details = {"source": nb.source_path, "language": nb.language, "format": nb.format,
               "hash": nb.content_hash, "size": nb.size}
    if r is None:
        reason = "new in Git" if st is None else "missing from the workspace (deleted by hand)"
        return PlannedAction("create", "notebook", path, reason, details)
    if r.object_type != NOTEBOOK:
        return PlannedAction("update", "notebook", path, f"a {r.object_type} is at the notebook's path: replaced",
                             {**details, "replace": True})
    if st is None:
        return PlannedAction("update", "notebook", path,
                             "present in the workspace but not deployed by us yet: overwritten", details)
    if st.fingerprint is not None and found not in (None, st.fingerprint):
        return PlannedAction("drifted", "notebook", path, "changed in the workspace since our last sync: overwritten",
                             {**details, "modified_at": r.modified_at, "expected": st.fingerprint,
                              "found": found, "git_changed": st.content_hash != nb.content_hash})
    if st.content_hash != nb.content_hash:
        return PlannedAction("update", "notebook", path, "changed in Git", details)
    if r.language is not None and r.language != nb.language:
        return PlannedAction("update", "notebook", path, f"language in the workspace is {r.language}", details)
    return PlannedAction("unchanged", "notebook", path, "same content hash", {"source": nb.source_path})


def _delete_actions(remote: Mapping[str, RemoteObject], state: Mapping[str, StateEntry],
                    keep: set[str]) -> list[PlannedAction]:
    """Everything under the target that Git does not want, a deleted folder standing for its contents."""
    actions: list[PlannedAction] = []
    doomed: list[str] = []
    for path in sorted(remote, key=lambda p: (p.count("/"), p)):
        r = remote[path]
        if path in keep:
            continue
        if any(path.startswith(d + "/") for d in doomed):
            continue  # inside a folder deleted recursively
        doomed.append(path)
        ours = path in state or any(p.startswith(path + "/") for p in state)
        reason = "removed from Git" if ours else "not in Git (not deployed by us)"
        actions.append(PlannedAction("delete", _kind(r.object_type), path, reason,
                                     {"recursive": r.object_type == DIRECTORY, "deployed_by_us": ours}))
    return actions


def deletes_everything(actions: Sequence[PlannedAction], remote: Mapping[str, RemoteObject],
                       target_dir: str) -> bool:
    """True when the plan removes every existing object under ``target_dir`` and keeps none, and
    either Git has no notebook left or what goes includes notebooks we deployed.

    The usual cause is a misconfigured ``source_dir`` or a wrong commit, so it is refused unless
    forced. A first sync into a folder holding only objects made by hand is not refused:
    ``delete_removed`` says those go.
    """
    existing = [p for p, o in remote.items() if p != target_dir and o.object_type != DIRECTORY]
    deletes = [a for a in actions if a.action == "delete"]
    if not existing or not deletes:
        return False
    notebooks = [a for a in actions if a.object_type == "notebook" and a.action != "delete"]
    if any(a.action in ("update", "unchanged", "drifted") for a in notebooks):
        return False
    return not notebooks or any(a.details.get("deployed_by_us") for a in deletes)


def deleted_share(actions: Sequence[PlannedAction], remote: Mapping[str, RemoteObject],
                  target_dir: str) -> tuple[int, int]:
    """(objects the plan removes, objects there are) under ``target_dir``, folders not counted.

    A recursive folder delete removes everything inside it, so what is inside counts.
    """
    existing = [p for p, o in remote.items() if p != target_dir and o.object_type != DIRECTORY]
    gone: set[str] = set()
    for a in actions:
        if a.action != "delete":
            continue
        gone.update(p for p in existing if p == a.name or p.startswith(a.name + "/"))
    return len(gone), len(existing)
