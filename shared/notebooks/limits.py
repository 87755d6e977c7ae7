"""Where notebooks may go, and how long their paths may be (pure, no I/O).

``target_dir`` is the folder the sync owns: with ``delete_removed`` everything
under it that is not in Git is deleted. So it must be a *dedicated* folder:

* absolute, without control characters, backslashes or empty/``.``/``..``
  segments once normalised (``/Shared/./dev/`` is ``/Shared/dev``; a value that
  changes meaning when normalised, such as ``/Shared/dev/..``, is checked as
  what it normalises to);
* not a workspace root (``/``, ``/Users``, ``/Shared``, ``/Repos``,
  ``/Workspace`` and the ``/Workspace/...`` forms of the others), compared
  case-insensitively;
* not a user's home folder or Git-folder root (``/Users/<user>``,
  ``/Repos/<user>``, with or without ``/Workspace``): those hold other people's
  work. A folder *below* them (``/Users/ada@contoso.com/platform``) is fine.

Workspace paths follow the ``/Workspace`` file system's limits: a name is at
most :data:`MAX_NAME_BYTES` bytes of UTF-8, a whole path at most
:data:`MAX_PATH_BYTES`. The notebook plan refuses longer paths before any change.
"""

from __future__ import annotations

import posixpath
import re

MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 4096
ROOTS = frozenset({"users", "shared", "repos"})
_BAD = re.compile(r"[\x00-\x1f\x7f-\x9f\\]")


def normalize_target_dir(value: str) -> str:
    """``target_dir`` normalised, or ValueError saying why it is not a dedicated folder."""
    if not isinstance(value, str) or not value:
        raise ValueError("target_dir must be an absolute workspace folder such as /Shared/data-platform")
    if _BAD.search(value) or value != value.strip():
        raise ValueError(f"{value!r} has control characters, backslashes or surrounding blanks")
    if not value.startswith("/"):
        raise ValueError(f"{value!r} must be an absolute workspace folder such as /Shared/data-platform")
    if ".." in value.split("/"):
        raise ValueError(f"{value!r} must not contain '..' (write the folder it means)")
    path = posixpath.normpath(value)
    if path.startswith("//"):  # POSIX keeps a leading double slash
        path = "/" + path.lstrip("/")
    parts = [p.lower() for p in path.split("/") if p]
    if parts[:1] == ["workspace"]:
        parts = parts[1:]
    if not parts or parts == ["workspace"]:
        raise ValueError(f"{value!r} is the workspace root: use a dedicated folder such as /Shared/data-platform")
    if len(parts) == 1 and parts[0] in ROOTS:
        raise ValueError(f"{value!r} is a workspace root folder: use a dedicated folder below it "
                         f"such as /Shared/data-platform")
    if len(parts) == 2 and parts[0] in ("users", "repos"):
        raise ValueError(f"{value!r} is a user's {'home' if parts[0] == 'users' else 'Git'} folder: "
                         "use a dedicated folder below it")
    problem = path_problem(path)
    if problem:
        raise ValueError(problem)
    return path


def path_problem(path: str) -> str | None:
    """Why ``path`` is too long for the workspace, or None."""
    size = len(path.encode("utf-8"))
    if size > MAX_PATH_BYTES:
        return f"workspace path is {size} bytes long; the workspace allows {MAX_PATH_BYTES}"
    for name in path.split("/"):
        n = len(name.encode("utf-8"))
        if n > MAX_NAME_BYTES:
            return (f"the name {name[:40]!r}... is {n} bytes long; the workspace allows {MAX_NAME_BYTES} "
                    "per name")
    return None
