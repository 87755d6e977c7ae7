"""The files of one commit, as the deployers see them."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class CommitSnapshot:
    sha: str
    files: Mapping[str, bytes]  # repository-relative POSIX paths
    ref: str = ""
    repository: str = ""
    timestamp: datetime | None = None
    author: str | None = None
    message: str | None = None
    author_email: str | None = None
    committer_email: str | None = None
    extra: Mapping[str, object] = field(default_factory=dict)

    def under(self, folder: str | None) -> dict[str, bytes]:
        """Files below ``folder`` with paths relative to it (all files when folder is empty)."""
        prefix = posixpath.normpath(folder.strip("/")) + "/" if folder and folder.strip("/") else ""
        if prefix in ("./", "/"):
            prefix = ""
        return {p[len(prefix):]: data for p, data in self.files.items() if p.startswith(prefix)}

    def read(self, path: str) -> bytes | None:
        return self.files.get(posixpath.normpath(path.strip("/")))

    def has_dir(self, folder: str) -> bool:
        prefix = folder.strip("/") + "/"
        return any(p.startswith(prefix) for p in self.files)
