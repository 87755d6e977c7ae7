"""Discovery and planning: pure, no network."""

from __future__ import annotations

import json

import pytest

from shared.errors import BadRequest
from shared.notebooks.discovery import discover, ipynb_language, source_language, workspace_path
from shared.notebooks.plan import RemoteObject, deletes_everything, fingerprint, plan_actions
from shared.notebooks.state import StateEntry

T = "/Shared/dp"
PY = b"# Databricks notebook source\nprint(1)\n"


def _ipynb(language: str | None = "python", nbformat: int = 4) -> bytes:
    meta = {"application/vnd.databricks.v1+notebook": {"language": language}} if language else {}
    return json.dumps({"cells": [], "metadata": meta, "nbformat": nbformat, "nbformat_minor": 5}).encode()


def test_source_header_decides_what_is_a_notebook() -> None:
    assert source_language("a.py", PY) == "PYTHON"
    assert source_language("a.sql", b"-- Databricks notebook source\nselect 1") == "SQL"
    assert source_language("a.scala", b"// Databricks notebook source\r\nval x = 1") == "SCALA"
    assert source_language("a.R", b"# Databricks notebook source\nx <- 1") == "R"
    assert source_language("a.py", b"\xef\xbb\xbf# Databricks notebook source\n") == "PYTHON"
    assert source_language("a.py", b"import os\n# Databricks notebook source\n") is None
    assert source_language("a.sql", b"# Databricks notebook source\n") is None  # wrong comment style
    assert source_language("a.txt", PY) is None


def test_ipynb_needs_cells_and_nbformat_4_and_takes_databricks_language() -> None:
    assert ipynb_language(_ipynb("sql")) == "SQL"
    assert ipynb_language(_ipynb(None)) == "PYTHON"
    assert ipynb_language(_ipynb("python", nbformat=3)) is None
    assert ipynb_language(b"{not json") is None
    assert ipynb_language(b'{"nbformat": 4}') is None


def test_workspace_path_drops_extension_and_keeps_spaces_and_unicode() -> None:
    assert workspace_path(T, "etl/My Notebook.py") == "/Shared/dp/etl/My Notebook"
    assert workspace_path(T, "données/été.sql") == "/Shared/dp/données/été"


@pytest.mark.parametrize("path", ["../x.py", "a/../../x.py", "/etc/x.py", "a/./b.py", "a\\b.py",
                                  "a/b\x00.py", "a/\nb.py", "C:/x.py", "a//b.py"])
def test_hostile_paths_are_refused(path: str) -> None:
    with pytest.raises(BadRequest) as err:
        discover({path: PY}, T)
    assert err.value.code == "unsafe_path"


def test_two_files_for_one_notebook_are_refused() -> None:
    with pytest.raises(BadRequest) as err:
        discover({"a.py": PY, "a.sql": b"-- Databricks notebook source\n"}, T)
    assert err.value.code == "duplicate_notebook"


def test_plain_python_files_are_skipped_not_deployed() -> None:
    d = discover({"lib/util.py": b"def f(): pass\n", "nb.py": PY, "README.md": b"# hi"}, T)
    assert [n.workspace_path for n in d.notebooks] == ["/Shared/dp/nb"]
    assert set(d.skipped) == {"lib/util.py", "README.md"}


def _remote(*objs: RemoteObject) -> dict[str, RemoteObject]:
    return {o.path: o for o in objs}


def test_plan_first_sync_creates_folders_parents_first_then_notebooks() -> None:
    nbs = discover({"a/b/n1.py": PY, "a/n2.py": PY}, T).notebooks
    actions = plan_actions(nbs, {}, {}, target_dir=T, delete_removed=True)
    assert [(a.action, a.object_type, a.name) for a in actions] == [
        ("create", "directory", T), ("create", "directory", f"{T}/a"), ("create", "directory", f"{T}/a/b"),
        ("create", "notebook", f"{T}/a/b/n1"), ("create", "notebook", f"{T}/a/n2")]


def test_plan_is_incremental_by_hash_and_detects_drift() -> None:
    nbs = discover({"same.py": PY, "changed.py": PY + b"x", "edited.py": PY}, T).notebooks
    by = {n.workspace_path: n for n in nbs}
    remote = _remote(RemoteObject(T, "DIRECTORY"),
                     *(RemoteObject(p, "NOTEBOOK", "PYTHON", 1000, 7) for p in by))
    remote[f"{T}/edited"] = RemoteObject(f"{T}/edited", "NOTEBOOK", "PYTHON", 2000, 7)
    state = {p: StateEntry(p, by[p].content_hash if not p.endswith("changed") else "old", "m:1000:7")
             for p in by}
    acts = {a.name: a for a in plan_actions(nbs, remote, state, target_dir=T, delete_removed=True)}
    assert acts[f"{T}/same"].action == "unchanged"
    assert acts[f"{T}/changed"].action == "update" and acts[f"{T}/changed"].reason == "changed in Git"
    assert acts[f"{T}/edited"].action == "drifted"
    assert acts[f"{T}/edited"].details["found"] == fingerprint(remote[f"{T}/edited"])


def test_plan_deletes_everything_not_in_git_topmost_only_after_creates() -> None:
    nbs = discover({"new.py": PY}, T).notebooks
    remote = _remote(RemoteObject(T, "DIRECTORY"), RemoteObject(f"{T}/old", "NOTEBOOK", "PYTHON", 1, 1),
                     RemoteObject(f"{T}/gone", "DIRECTORY"), RemoteObject(f"{T}/gone/x", "NOTEBOOK", "SQL", 1, 2),
                     RemoteObject(f"{T}/f.txt", "FILE", None, 1, 3))
    acts = plan_actions(nbs, remote, {f"{T}/old": StateEntry(f"{T}/old", "h")}, target_dir=T,
                        delete_removed=True)
    assert [(a.action, a.name) for a in acts] == [
        ("create", f"{T}/new"), ("delete", f"{T}/f.txt"), ("delete", f"{T}/gone"), ("delete", f"{T}/old")]
    assert {a.name: a.reason for a in acts if a.action == "delete"}[f"{T}/old"] == "removed from Git"
    # every existing object goes and none is kept: refused unless forced, even with something new
    assert deletes_everything(acts, remote, T)
    kept = plan_actions(nbs, remote, {}, target_dir=T, delete_removed=False)
    assert not [a for a in kept if a.action == "delete"]


def test_delete_everything_guard() -> None:
    remote = _remote(RemoteObject(T, "DIRECTORY"), RemoteObject(f"{T}/a", "NOTEBOOK", "PYTHON", 1, 1))
    acts = plan_actions([], remote, {}, target_dir=T, delete_removed=True)
    assert deletes_everything(acts, remote, T)
    nbs = discover({"a.py": PY, "b.py": PY}, T).notebooks
    acts = plan_actions(nbs, remote, {}, target_dir=T, delete_removed=True)
    assert not deletes_everything(acts, remote, T)
    assert not deletes_everything([], {}, T)
