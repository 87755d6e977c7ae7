"""Which files of a commit are notebooks, and where each one goes in the workspace.

A notebook is a ``.py``/``.sql``/``.scala``/``.r`` file whose first line is the
Databricks notebook source header, or an ``.ipynb`` (JSON, nbformat >= 4).
A plain ``.py`` without the header is *not* a notebook: the legacy CLI turned
them into notebooks and broke imports (databricks-cli #618, #630).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import BadRequest

# extension -> (workspace language, comment prefix of the source header)
SOURCE_LANGUAGES: dict[str, tuple[str, str]] = {
    ".py": ("PYTHON", "#"),
    ".sql": ("SQL", "--"),
    ".scala": ("SCALA", "//"),
    ".r": ("R", "#"),
}
HEADER_TEXT = "Databricks notebook source"
_IPYNB_LANGUAGES = {"python": "PYTHON", "sql": "SQL", "scala": "SCALA", "r": "R"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class NotebookSource:
    """One notebook of the commit: where it comes from, where it goes, what it is."""

    source_path: str  # relative to the source folder, POSIX
    workspace_path: str  # absolute, under target_dir, without the extension
    language: str  # PYTHON | SQL | SCALA | R
    format: str  # SOURCE | JUPYTER
    content: bytes
    content_hash: str  # sha256 of (format, language, content): what we would upload

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass(frozen=True)
class Discovery:
    notebooks: tuple[NotebookSource, ...]
    skipped: tuple[str, ...]  # files that are not notebooks (kept for the plan's warnings)


def content_hash(fmt: str, language: str, content: bytes) -> str:
    """The hash the incremental sync compares: format and language changes count as changes."""
    h = hashlib.sha256()
    h.update(f"{fmt}\x1f{language}\x1f".encode())
    h.update(content)
    return h.hexdigest()


def _first_line(content: bytes) -> str:
    head = content[:256].decode("utf-8", errors="replace").lstrip("\ufeff")
    return head.split("\n", 1)[0].rstrip("\r").strip()


def source_language(name: str, content: bytes) -> str | None:
    """The language of a source notebook, or None when the file is not one (no header)."""
    ext = posixpath.splitext(name)[1].lower()
    entry = SOURCE_LANGUAGES.get(ext)
    if entry is None:
        return None
    language, prefix = entry
    line = _first_line(content)
    if line.startswith(prefix) and line[len(prefix):].strip() == HEADER_TEXT:
        return language
    return None


def ipynb_language(content: bytes) -> str | None:
    """The language of a Jupyter notebook, or None when the file is not a usable notebook."""
    try:
        doc = json.loads(content.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("cells"), list):
        return None
    nbformat = doc.get("nbformat")
    if not isinstance(nbformat, int) or nbformat < 4:
        return None
    raw_meta = doc.get("metadata")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    candidates = []
    dbx = meta.get("application/vnd.databricks.v1+notebook")
    if isinstance(dbx, dict):
        candidates.append(dbx.get("language"))
    for key in ("language_info", "kernelspec"):
        if isinstance(meta.get(key), dict):
            candidates.append(meta[key].get("name") if key == "language_info" else meta[key].get("language"))
    for c in candidates:
        if isinstance(c, str) and c.lower() in _IPYNB_LANGUAGES:
            return _IPYNB_LANGUAGES[c.lower()]
    return "PYTHON"  # Databricks imports Jupyter notebooks as Python by default


def check_relative(path: str) -> str:
    """Refuse a repository path that could escape ``target_dir``; returns it normalised (NFC)."""
    if not path or path.startswith("/") or "\\" in path or _CONTROL.search(path):
        raise BadRequest(f"notebook path {path!r} is not a safe relative path", code="unsafe_path")
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts) or re.match(r"^[A-Za-z]:", path):
        raise BadRequest(f"notebook path {path!r} would escape the target folder", code="unsafe_path")
    return unicodedata.normalize("NFC", path)


def workspace_path(target_dir: str, relative: str) -> str:
    """``target_dir`` + the relative path without its extension (spaces and non-ASCII kept)."""
    rel = check_relative(relative)
    stem = posixpath.splitext(rel)[0]
    full = posixpath.join(target_dir.rstrip("/"), stem)
    if not full.startswith(target_dir.rstrip("/") + "/"):  # belt and braces: never outside target_dir
        raise BadRequest(f"notebook path {relative!r} would escape the target folder", code="unsafe_path")
    return full


def discover(files: Mapping[str, bytes], target_dir: str) -> Discovery:
    """The notebooks among ``files`` (paths relative to the source folder).

    Raises BadRequest (``unsafe_path``) for a notebook whose path would escape
    ``target_dir``, and (``duplicate_notebook``) when two files map to the same
    workspace path (``a.py`` and ``a.sql``): nothing is deployed then.
    """
    notebooks: list[NotebookSource] = []
    skipped: list[str] = []
    seen: dict[str, str] = {}
    for rel in sorted(files):
        content = files[rel]
        name = rel.rsplit("/", 1)[-1]
        if name.lower().endswith(".ipynb"):
            language, fmt = ipynb_language(content), "JUPYTER"
        else:
            language, fmt = source_language(name, content), "SOURCE"
        if language is None:
            skipped.append(rel)
            continue
        ws = workspace_path(target_dir, rel)
        if ws in seen:
            raise BadRequest(f"{seen[ws]!r} and {rel!r} would both become the notebook {ws!r}",
                             code="duplicate_notebook")
        seen[ws] = rel
        notebooks.append(NotebookSource(check_relative(rel), ws, language, fmt, content,
                                        content_hash(fmt, language, content)))
    return Discovery(tuple(notebooks), tuple(skipped))
