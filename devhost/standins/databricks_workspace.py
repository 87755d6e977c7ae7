"""The workspace tree of the Databricks stand-in: objects, notebook formats, and the API rules.

Pure state, no HTTP: :class:`WorkspaceTree` methods raise :class:`WorkspaceError` with the
Databricks ``error_code`` and HTTP status the real Workspace API 2.0 answers.

How notebooks are stored (as Databricks does, observably): the source *body* without the
``<comment> Databricks notebook source`` first line. ``export`` in SOURCE format returns
``header + "\\n" + body``, so a SOURCE file that already starts with the header round-trips
byte for byte, and one without it comes back with the header added. JUPYTER imports are
converted to SOURCE cells (markdown cells become ``%md`` MAGIC cells) and JUPYTER exports
convert back. Files (object type FILE) are stored and exported verbatim.
"""

from __future__ import annotations

import base64
import itertools
import json
import posixpath
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MAX_IMPORT_BYTES = 10 * 1024 * 1024

# language -> (line comment prefix, source file extension)
LANGUAGES: dict[str, tuple[str, str]] = {
    "PYTHON": ("#", "py"),
    "SQL": ("--", "sql"),
    "SCALA": ("//", "scala"),
    "R": ("#", "r"),
}
_EXTENSION_LANGUAGE = {".py": "PYTHON", ".sql": "SQL", ".scala": "SCALA", ".r": "R"}


def notebook_header(language: str) -> str:
    """``# Databricks notebook source`` with the language's comment prefix."""
    return f"{LANGUAGES[language][0]} Databricks notebook source"


def cell_separator(language: str) -> str:
    return f"\n\n{LANGUAGES[language][0]} COMMAND ----------\n\n"


class WorkspaceError(Exception):
    """A Workspace API error: ``error_code``, HTTP ``status`` and message, as Databricks answers."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message


def _not_found(path: str) -> WorkspaceError:
    return WorkspaceError(404, "RESOURCE_DOES_NOT_EXIST", f"Path ({path}) doesn't exist.")


def _invalid(message: str) -> WorkspaceError:
    return WorkspaceError(400, "INVALID_PARAMETER_VALUE", message)


@dataclass
class WorkspaceObject:
    """A workspace object. ``content`` is the notebook body (no header) or the file's bytes."""

    path: str
    object_type: str  # NOTEBOOK | DIRECTORY | FILE
    object_id: int
    created_at: int
    modified_at: int
    language: str | None = None
    content: bytes = b""
    modified_by: str = "api"
    children: set[str] = field(default_factory=set)

    def info(self) -> dict[str, Any]:
        """The ``ObjectInfo`` JSON of get-status and list."""
        out: dict[str, Any] = {"object_type": self.object_type, "path": self.path,
                               "object_id": self.object_id, "resource_id": str(self.object_id)}
        if self.object_type == "NOTEBOOK":
            out["language"] = self.language
        if self.object_type != "DIRECTORY":
            out["created_at"] = self.created_at
            out["modified_at"] = self.modified_at
        if self.object_type == "FILE":
            out["size"] = len(self.content)
        return out

    def source(self) -> bytes:
        """The SOURCE export: header line plus body for notebooks, the bytes for files."""
        if self.object_type != "NOTEBOOK":
            return self.content
        assert self.language is not None
        return notebook_header(self.language).encode() + b"\n" + self.content


def normalize_path(path: Any) -> str:
    """Validate an absolute workspace path and drop a trailing slash."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise _invalid(f"Path ({path}) must be absolute.")
    if path != "/":
        path = path.rstrip("/")
    if "//" in path or any(part in (".", "..") for part in path.split("/")):
        raise _invalid(f"Path ({path}) is invalid.")
    # The /Workspace file system's limits: 255 bytes per name, 4096 per path.
    if len(path.encode("utf-8")) > 4096 or any(len(p.encode("utf-8")) > 255 for p in path.split("/")):
        raise _invalid(f"Path ({path[:100]}...) is too long.")
    return path


def strip_header(source: bytes, language: str) -> bytes:
    """The notebook body: ``source`` without its ``Databricks notebook source`` first line."""
    header = notebook_header(language).encode()
    if source.startswith(header):
        rest = source[len(header):]
        if rest.startswith(b"\r\n"):
            return rest[2:]
        if rest.startswith(b"\n") or rest == b"":
            return rest[1:]
    return source


def has_notebook_header(source: bytes) -> str | None:
    """The language whose notebook header ``source`` starts with (PYTHON for ``#``), else None."""
    first = source.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", "replace")
    for language in ("PYTHON", "SQL", "SCALA"):
        if first == notebook_header(language):
            return language
    return None


def jupyter_to_source(ipynb: bytes, language: str | None) -> tuple[str, bytes]:
    """(language, body) of a Jupyter notebook, cells joined like Databricks SOURCE."""
    try:
        nb = json.loads(ipynb)
        cells = nb["cells"]
    except (ValueError, KeyError, TypeError) as exc:
        raise _invalid(f"Invalid Jupyter notebook: {exc}") from exc
    meta = nb.get("metadata") or {}
    lang = language or str((meta.get("language_info") or {}).get("name")
                           or (meta.get("kernelspec") or {}).get("language") or "python").upper()
    if lang not in LANGUAGES:
        lang = "PYTHON"
    prefix = LANGUAGES[lang][0]
    out: list[str] = []
    for cell in cells:
        text = cell.get("source", "")
        text = "".join(text) if isinstance(text, list) else str(text)
        if cell.get("cell_type") == "markdown":
            lines = ["%md", *text.split("\n")]
            text = "\n".join(f"{prefix} MAGIC {line}" if line else f"{prefix} MAGIC" for line in lines)
        out.append(text)
    return lang, cell_separator(lang).join(out).encode()


def source_to_jupyter(obj: WorkspaceObject) -> bytes:
    """A Jupyter notebook for a stored notebook (inverse of :func:`jupyter_to_source`)."""
    assert obj.language is not None
    prefix = LANGUAGES[obj.language][0]
    magic = f"{prefix} MAGIC"
    cells: list[dict[str, Any]] = []
    for text in obj.content.decode("utf-8", "replace").split(cell_separator(obj.language)):
        lines = text.split("\n")
        if lines and all(line.startswith(magic) for line in lines):
            lines = [line[len(magic) + 1:] if line.startswith(magic + " ") else "" for line in lines]
            if lines[0].strip() == "%md":
                cells.append({"cell_type": "markdown", "metadata": {}, "source": "\n".join(lines[1:])})
                continue
            text = "\n".join(lines)
        cells.append({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                      "source": text})
    name = obj.language.lower()
    nb = {"cells": cells, "metadata": {"language_info": {"name": name},
                                       "application/vnd.databricks.v1+notebook": {
                                           "language": name, "notebookName": posixpath.basename(obj.path)}},
          "nbformat": 4, "nbformat_minor": 0}
    return json.dumps(nb, indent=1).encode()


@dataclass(frozen=True)
class ImportRequest:
    """A parsed workspace/import request (JSON or multipart)."""

    path: str
    content: bytes
    format: str = "SOURCE"
    language: str | None = None
    overwrite: bool = False


class WorkspaceTree:
    """The workspace objects, thread-safe. ``clock_ms`` returns epoch milliseconds."""

    def __init__(self, clock_ms: Callable[[], int]) -> None:
        self._clock_ms = clock_ms
        self._lock = threading.RLock()
        self._ids = itertools.count(1_000_000_000_000)
        self._objects: dict[str, WorkspaceObject] = {}
        now = clock_ms()
        self._objects["/"] = WorkspaceObject("/", "DIRECTORY", 0, now, now)
        for folder in ("/Users", "/Shared", "/Repos"):
            self.mkdirs(folder)

    # -- reads ------------------------------------------------------------------------------
    def get(self, path: str) -> WorkspaceObject:
        path = normalize_path(path)
        with self._lock:
            obj = self._objects.get(path)
            if obj is None:
                raise _not_found(path)
            return obj

    def status(self, path: str) -> dict[str, Any]:
        """The ObjectInfo of ``path``, read under the lock (an overwrite may be in flight)."""
        with self._lock:
            return self.get(path).info()

    def exists(self, path: str) -> bool:
        with self._lock:
            return normalize_path(path) in self._objects

    def list_dir(self, path: str, modified_after: int | None = None) -> list[dict[str, Any]]:
        """Direct children (non-recursive); a notebook or file lists itself, like the real API."""
        with self._lock:
            obj = self.get(path)
            if obj.object_type != "DIRECTORY":
                return [obj.info()]
            children = [self._objects[c] for c in sorted(obj.children)]
            return [c.info() for c in children
                    if modified_after is None or c.object_type == "DIRECTORY" or c.modified_at > modified_after]

    def by_id(self, object_id: int) -> WorkspaceObject | None:
        """The object with ``object_id`` (None: there is none, e.g. it was deleted)."""
        with self._lock:
            return next((o for o in self._objects.values() if o.object_id == object_id), None)

    def ancestors(self, path: str) -> list[WorkspaceObject]:
        """The folders above ``path``, nearest first (the root included)."""
        with self._lock:
            out, current = [], normalize_path(path)
            while current != "/":
                current = posixpath.dirname(current)
                out.append(self._objects[current])
            return out

    def walk(self, path: str = "/") -> list[WorkspaceObject]:
        """Every object under ``path`` (inclusive), parents first."""
        with self._lock:
            root = self.get(path)
            out, stack = [], [root]
            while stack:
                obj = stack.pop()
                out.append(obj)
                stack.extend(self._objects[c] for c in sorted(obj.children, reverse=True))
            return out

    def export(self, path: str, fmt: str) -> tuple[bytes, str]:
        """(content, file_type) of ``path`` exported in ``fmt`` (SOURCE, JUPYTER or AUTO)."""
        with self._lock:
            obj = self.get(path)
            if obj.object_type == "DIRECTORY":
                raise _invalid(f"Exporting a directory ({obj.path}) is not supported by this stand-in "
                               "(use DBC on a real workspace).")
            if obj.object_type == "FILE":
                if fmt not in ("SOURCE", "AUTO"):
                    raise _invalid(f"Export format {fmt} is not supported for a workspace file ({obj.path}).")
                return obj.content, posixpath.splitext(obj.path)[1].lstrip(".")
            assert obj.language is not None
            if fmt == "JUPYTER":
                return source_to_jupyter(obj), "ipynb"
            if fmt in ("SOURCE", "AUTO"):
                return obj.source(), LANGUAGES[obj.language][1]
            raise _invalid(f"Export format {fmt} is not supported by the stand-in.")

    # -- writes -----------------------------------------------------------------------------
    def mkdirs(self, path: str) -> None:
        """Create ``path`` and missing parents; existing folders are fine, other objects are not."""
        path = normalize_path(path)
        with self._lock:
            parts = [p for p in path.split("/") if p]
            current = "/"
            for part in parts:
                child = posixpath.join(current, part)
                obj = self._objects.get(child)
                if obj is None:
                    now = self._clock_ms()
                    self._add(WorkspaceObject(child, "DIRECTORY", next(self._ids), now, now))
                elif obj.object_type != "DIRECTORY":
                    raise WorkspaceError(400, "RESOURCE_ALREADY_EXISTS",
                                         f"Path ({child}) already exists and is not a directory.")
                current = child

    def import_(self, req: ImportRequest, *, user: str = "api") -> WorkspaceObject:
        """Import one notebook or file, following the real API's rules."""
        path = normalize_path(req.path)
        fmt = (req.format or "SOURCE").upper()
        language = req.language.upper() if req.language else None
        if language is not None and language not in LANGUAGES:
            raise _invalid(f"Invalid language: {req.language}")
        if len(req.content) > MAX_IMPORT_BYTES:
            raise WorkspaceError(400, "MAX_NOTEBOOK_SIZE_EXCEEDED",
                                 f"File size imported is ({len(req.content)} bytes), exceeded max size "
                                 f"({MAX_IMPORT_BYTES} bytes)")
        object_type, body = "NOTEBOOK", req.content
        if fmt == "SOURCE":
            if language is None:
                # Without a language the real API treats SOURCE content as a directory archive.
                raise _invalid("The zip file may not be valid or may be an unsupported version. Hint: "
                               "Objects with language unset are imported as directories; set `language` "
                               "to import a notebook.")
            body = strip_header(req.content, language)
        elif fmt == "JUPYTER":
            language, body = jupyter_to_source(req.content, language)
        elif fmt == "AUTO":
            stem, ext = posixpath.splitext(path)
            header_lang = has_notebook_header(req.content)
            if ext.lower() == ".ipynb":
                language, body = jupyter_to_source(req.content, language)
                path = stem
            elif ext.lower() in _EXTENSION_LANGUAGE and header_lang is not None:
                language = _EXTENSION_LANGUAGE[ext.lower()]
                body = strip_header(req.content, language)
                path = stem
            else:
                object_type, language = "FILE", None
        else:
            raise _invalid(f"Import format {fmt} is not supported by the stand-in "
                           "(SOURCE, JUPYTER and AUTO are).")
        with self._lock:
            parent = posixpath.dirname(path)
            parent_obj = self._objects.get(parent)
            if parent_obj is None or parent_obj.object_type != "DIRECTORY":
                raise WorkspaceError(404, "RESOURCE_DOES_NOT_EXIST",
                                     f"The parent folder ({parent}) does not exist.")
            existing = self._objects.get(path)
            now = self._clock_ms()
            if existing is not None:
                if not req.overwrite or existing.object_type == "DIRECTORY":
                    raise WorkspaceError(400, "RESOURCE_ALREADY_EXISTS", f"Path ({path}) already exists.")
                existing.object_type, existing.language = object_type, language
                existing.content, existing.modified_at, existing.modified_by = body, max(now, existing.modified_at + 1), user
                return existing
            obj = WorkspaceObject(path, object_type, next(self._ids), now, now, language, body, user)
            self._add(obj)
            return obj

    def delete(self, path: str, recursive: bool = False) -> None:
        path = normalize_path(path)
        with self._lock:
            obj = self.get(path)
            if path == "/":
                raise _invalid("Cannot delete the workspace root.")
            if obj.children and not recursive:
                raise WorkspaceError(400, "DIRECTORY_NOT_EMPTY", f"Folder ({path}) is not empty.")
            for victim in self.walk(path):
                del self._objects[victim.path]
            self._objects[posixpath.dirname(path)].children.discard(path)

    def edit_by_hand(self, path: str, content: bytes | str, *, user: str = "someone@example.com") -> None:
        """Change a notebook's body or a file's bytes as a person in the UI would (drift)."""
        data = content.encode() if isinstance(content, str) else content
        with self._lock:
            obj = self.get(path)
            if obj.object_type == "DIRECTORY":
                raise _invalid(f"{path} is a directory")
            if obj.object_type == "NOTEBOOK":
                assert obj.language is not None
                data = strip_header(data, obj.language)
            obj.content, obj.modified_by = data, user
            obj.modified_at = max(self._clock_ms(), obj.modified_at + 1)

    def _add(self, obj: WorkspaceObject) -> None:
        self._objects[obj.path] = obj
        self._objects[posixpath.dirname(obj.path)].children.add(obj.path)

    def __len__(self) -> int:
        with self._lock:
            return len(self._objects)


def decode_base64(content: Any) -> bytes:
    """Base64 ``content`` from a JSON import body."""
    if content is None:
        return b""
    if not isinstance(content, str):
        raise _invalid("content must be a base64 string")
    try:
        return base64.b64decode(content, validate=True)
    except ValueError as exc:
        raise _invalid(f"content is not valid base64: {exc}") from exc
