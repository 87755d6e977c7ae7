"""Contract tests: databricks-sdk (built the product's way) drives the workspace API of the stand-in."""

from __future__ import annotations

import base64
import json

import pytest
from databricks.sdk.errors import NotFound, PermissionDenied, ResourceAlreadyExists
from databricks.sdk.errors.platform import BadRequest, InvalidParameterValue
from databricks.sdk.service.workspace import ExportFormat, ImportFormat, Language, ObjectType

from devhost.standins.databricks import DatabricksStandIn

HEADER = b"# Databricks notebook source\n"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_import_json_source_then_export_adds_header(databricks_standin: DatabricksStandIn) -> None:
    w = databricks_standin.client()
    w.workspace.mkdirs("/Shared/app")
    w.workspace.import_("/Shared/app/etl", content=b64(b"print(1)"), format=ImportFormat.SOURCE,
                        language=Language.PYTHON)
    info = w.workspace.get_status("/Shared/app/etl")
    assert info.object_type == ObjectType.NOTEBOOK
    assert info.language == Language.PYTHON
    assert info.object_id and info.created_at and info.modified_at
    exported = w.workspace.export("/Shared/app/etl", format=ExportFormat.SOURCE)
    assert base64.b64decode(exported.content or "") == HEADER + b"print(1)"
    assert exported.file_type == "py"
    assert w.workspace.download("/Shared/app/etl").read() == HEADER + b"print(1)"


def test_source_with_header_round_trips_byte_for_byte(databricks_standin: DatabricksStandIn) -> None:
    w = databricks_standin.client()
    source = b"-- Databricks notebook source\nselect 1\n\n-- COMMAND ----------\n\nselect 2\n"
    w.workspace.upload("/Shared/q", source, language=Language.SQL)
    assert databricks_standin.read_source("/Shared/q") == source
    assert databricks_standin.object("/Shared/q").content == b"select 1\n\n-- COMMAND ----------\n\nselect 2\n"


def test_multipart_upload_auto_notebook_strips_extension_and_file_stays(
        databricks_standin: DatabricksStandIn) -> None:
    w = databricks_standin.client()
    w.workspace.mkdirs("/Shared/auto")
    w.workspace.upload("/Shared/auto/nb.py", HEADER + b"x = 1", format=ImportFormat.AUTO)
    w.workspace.upload("/Shared/auto/lib.py", b"def f():\n    return 1\n", format=ImportFormat.AUTO)
    kinds = {o.path: (o.object_type, o.language) for o in w.workspace.list("/Shared/auto")}
    assert kinds == {"/Shared/auto/nb": (ObjectType.NOTEBOOK, Language.PYTHON),
                     "/Shared/auto/lib.py": (ObjectType.FILE, None)}
    assert w.workspace.download("/Shared/auto/lib.py").read() == b"def f():\n    return 1\n"
    assert w.workspace.get_status("/Shared/auto/lib.py").size == len(b"def f():\n    return 1\n")
    assert databricks_standin.counters.count("workspace.import") == 2


def test_jupyter_import_and_export(databricks_standin: DatabricksStandIn) -> None:
    w = databricks_standin.client()
    nb = {"cells": [{"cell_type": "markdown", "source": ["# Title"], "metadata": {}},
                    {"cell_type": "code", "source": ["print('hi')"], "metadata": {}, "outputs": [],
                     "execution_count": None}],
          "metadata": {"language_info": {"name": "python"}}, "nbformat": 4, "nbformat_minor": 2}
    w.workspace.import_("/Shared/j", content=b64(json.dumps(nb).encode()), format=ImportFormat.JUPYTER)
    assert w.workspace.get_status("/Shared/j").language == Language.PYTHON
    src = databricks_standin.read_source("/Shared/j").decode()
    assert src == "# Databricks notebook source\n# MAGIC %md\n# MAGIC # Title\n\n# COMMAND ----------\n\nprint('hi')"
    back = json.loads(base64.b64decode(w.workspace.export("/Shared/j", format=ExportFormat.JUPYTER).content or ""))
    assert [(c["cell_type"], c["source"]) for c in back["cells"]] == [("markdown", "# Title"),
                                                                       ("code", "print('hi')")]


def test_import_existing_without_overwrite_fails_and_keeps_content(databricks_standin: DatabricksStandIn) -> None:
    w = databricks_standin.client()
    databricks_standin.seed_notebook("/Shared/n", "old")
    with pytest.raises(ResourceAlreadyExists):
        w.workspace.import_("/Shared/n", content=b64(b"new"), language=Language.PYTHON,
                            format=ImportFormat.SOURCE)
    assert databricks_standin.read_source("/Shared/n") == HEADER + b"old"
    before = databricks_standin.object("/Shared/n").modified_at
    w.workspace.import_("/Shared/n", content=b64(b"new"), language=Language.PYTHON,
                        format=ImportFormat.SOURCE, overwrite=True)
    assert databricks_standin.read_source("/Shared/n") == HEADER + b"new"
    assert databricks_standin.object("/Shared/n").modified_at > before


def test_missing_parent_folder_is_an_error(databricks_standin: DatabricksStandIn) -> None:
    w = databricks_standin.client()
    with pytest.raises(NotFound, match="parent folder"):
        w.workspace.upload("/Shared/nope/nb", b"x", language=Language.PYTHON)
    assert not databricks_standin.exists("/Shared/nope")


def test_over_10_mb_is_rejected(databricks_standin: DatabricksStandIn) -> None:
    w = databricks_standin.client()
    with pytest.raises(BadRequest) as err:
        w.workspace.upload("/Shared/big", b"#" * (10 * 1024 * 1024 + 1), language=Language.PYTHON)
    assert err.value.error_code == "MAX_NOTEBOOK_SIZE_EXCEEDED"
    assert not databricks_standin.exists("/Shared/big")


def test_source_without_language_is_invalid(databricks_standin: DatabricksStandIn) -> None:
    w = databricks_standin.client()
    with pytest.raises(InvalidParameterValue):
        w.workspace.import_("/Shared/x", content=b64(b"x"), format=ImportFormat.SOURCE)


def test_mkdirs_idempotent_and_creates_parents(databricks_standin: DatabricksStandIn) -> None:
    w = databricks_standin.client()
    w.workspace.mkdirs("/Shared/a/b/c")
    w.workspace.mkdirs("/Shared/a/b/c")
    assert w.workspace.get_status("/Shared/a/b").object_type == ObjectType.DIRECTORY
    databricks_standin.seed_notebook("/Shared/a/nb", "x")
    with pytest.raises(ResourceAlreadyExists):
        w.workspace.mkdirs("/Shared/a/nb")


def test_list_is_not_recursive_and_missing_path_is_not_found(databricks_standin: DatabricksStandIn) -> None:
    w = databricks_standin.client()
    databricks_standin.seed_notebook("/Shared/l/one", "1")
    databricks_standin.seed_notebook("/Shared/l/sub/two", "2")
    assert sorted(o.path or "" for o in w.workspace.list("/Shared/l")) == ["/Shared/l/one", "/Shared/l/sub"]
    databricks_standin.seed_folder("/Shared/empty")
    assert list(w.workspace.list("/Shared/empty")) == []
    with pytest.raises(NotFound):
        list(w.workspace.list("/Shared/missing"))
    with pytest.raises(NotFound):
        w.workspace.get_status("/Shared/missing")


def test_delete_non_empty_needs_recursive(databricks_standin: DatabricksStandIn) -> None:
    w = databricks_standin.client()
    databricks_standin.seed_notebook("/Shared/d/sub/nb", "x")
    with pytest.raises(BadRequest) as err:
        w.workspace.delete("/Shared/d")
    assert err.value.error_code == "DIRECTORY_NOT_EMPTY"
    assert databricks_standin.exists("/Shared/d/sub/nb")
    w.workspace.delete("/Shared/d/sub/nb")
    assert not databricks_standin.exists("/Shared/d/sub/nb")
    databricks_standin.seed_notebook("/Shared/d/sub/nb2", "x")
    w.workspace.delete("/Shared/d", recursive=True)
    assert databricks_standin.paths("/Shared") == ["/Shared"]
    with pytest.raises(NotFound):
        w.workspace.delete("/Shared/d")


def test_edit_by_hand_is_visible_as_drift(databricks_standin: DatabricksStandIn) -> None:
    w = databricks_standin.client()
    databricks_standin.seed_notebook("/Shared/drift", "v1")
    before = w.workspace.get_status("/Shared/drift").modified_at or 0
    databricks_standin.edit_by_hand("/Shared/drift", "v1 plus a manual fix")
    assert (w.workspace.get_status("/Shared/drift").modified_at or 0) > before
    assert w.workspace.download("/Shared/drift").read() == HEADER + b"v1 plus a manual fix"
    assert databricks_standin.object("/Shared/drift").modified_by == "someone@example.com"


def test_missing_token_is_401_and_wrong_token_403(databricks_standin: DatabricksStandIn) -> None:
    from databricks.sdk import WorkspaceClient

    bad = WorkspaceClient(host=databricks_standin.url, token="dapi-wrong", auth_type="pat")
    with pytest.raises(PermissionDenied, match="Invalid access token"):
        bad.workspace.get_status("/Shared")
    import requests

    r = requests.get(databricks_standin.url + "/api/2.0/workspace/get-status", params={"path": "/"}, timeout=5)
    assert r.status_code == 401
    assert r.json()["error_code"] == "UNAUTHENTICATED"


def test_corpus_notebooks_round_trip(databricks_standin: DatabricksStandIn, corpus) -> None:  # type: ignore[no-untyped-def]
    from databricks.sdk.service.workspace import ImportFormat as F

    w = databricks_standin.client()
    root = corpus / "notebooks" / "databricks-demos-dbdemos-notebooks"
    files = sorted(p for p in root.rglob("*") if p.suffix in (".py", ".sql", ".scala"))[:25]
    assert files
    w.workspace.mkdirs("/Shared/corpus")
    for p in files:
        target = "/Shared/corpus/" + p.name
        w.workspace.upload(target, p.read_bytes(), format=F.AUTO, overwrite=True)
        stem = target.rsplit(".", 1)[0]
        if databricks_standin.exists(stem):
            assert databricks_standin.read_source(stem) == p.read_bytes()
        else:
            assert databricks_standin.object(target).object_type == "FILE"
