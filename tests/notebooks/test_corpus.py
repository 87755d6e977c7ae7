"""The public notebook sets of ../shared/corpus sync correctly (skipped when absent)."""

from __future__ import annotations

import json
from pathlib import Path

from devhost.standins.databricks import DatabricksStandIn
from shared.notebooks.deployer import NotebookDeployer
from shared.notebooks.discovery import discover

from .conftest import TARGET, ContextFactory

HEADERS = {".py": ("# Databricks notebook source", "PYTHON"), ".sql": ("-- Databricks notebook source", "SQL"),
           ".scala": ("// Databricks notebook source", "SCALA"), ".r": ("# Databricks notebook source", "R")}


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _expected(files: dict[str, bytes]) -> dict[str, str]:
    """Independent oracle: workspace path -> language, from the first line / notebook JSON."""
    out: dict[str, str] = {}
    for rel, data in files.items():
        stem, _dot, ext = rel.rpartition(".")
        ext = "." + ext.lower()
        if ext in HEADERS:
            first = data.decode("utf-8", "replace").lstrip("\ufeff").splitlines()[0:1]
            if first and first[0].strip() == HEADERS[ext][0]:
                out[f"{TARGET}/{stem}"] = HEADERS[ext][1]
        elif ext == ".ipynb":
            doc = json.loads(data)
            lang = doc["metadata"].get("application/vnd.databricks.v1+notebook", {}).get("language", "python")
            out[f"{TARGET}/{stem}"] = lang.upper()
    return out


def test_dbdemos_every_header_file_becomes_a_notebook_of_its_language(
        corpus: Path, make_ctx: ContextFactory, databricks_standin: DatabricksStandIn) -> None:
    files = _files(corpus / "notebooks" / "databricks-demos-dbdemos-notebooks")
    expected = _expected(files)
    assert len(expected) >= 200
    ctx = make_ctx(files, max_parallel=16)
    deployer = NotebookDeployer()
    plan = deployer.plan(ctx)
    result = deployer.apply(ctx, plan)
    assert result.status == "succeeded", result.error
    deployed = {p: databricks_standin.object(p).language for p in databricks_standin.paths(TARGET)
                if databricks_standin.object(p).object_type == "NOTEBOOK"}
    assert deployed == expected
    assert not NotebookDeployer().plan(make_ctx(files)).has_changes


def test_spark_guide_headerless_sources_are_not_notebooks(corpus: Path) -> None:
    files = _files(corpus / "notebooks" / "databricks-Spark-The-Definitive-Guide")
    sources = [p for p in files if p.rsplit(".", 1)[-1].lower() in ("py", "sql", "scala", "r")]
    assert sources
    found = discover(files, TARGET)
    assert found.notebooks == ()
    assert set(sources) <= set(found.skipped)
