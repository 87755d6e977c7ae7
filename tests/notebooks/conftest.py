"""Wiring for notebook deployment tests: a DeployContext against the stand-in and Azurite."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from devhost.standins.databricks import DatabricksStandIn
from shared.audit import AuditLedger
from shared.clock import SystemClock
from shared.config import DatabricksSource, Environment, PlatformConfig, Repository
from shared.deploy.model import DeployContext
from shared.git.snapshot import CommitSnapshot
from shared.storage import StorageAccount

TARGET = "/Shared/dataops"
HEADER = {"PYTHON": "# Databricks notebook source\n", "SQL": "-- Databricks notebook source\n",
          "SCALA": "// Databricks notebook source\n", "R": "# Databricks notebook source\n"}

ContextFactory = Callable[..., DeployContext]


def notebook(body: str, language: str = "PYTHON") -> bytes:
    return (HEADER[language] + body).encode()


@pytest.fixture
def make_ctx(databricks_standin: DatabricksStandIn, storage: StorageAccount, ledger: AuditLedger) -> ContextFactory:
    """``make_ctx(files, sha=..., force=..., **target_kw)``: files relative to the notebooks folder."""
    counter = {"n": 0}

    def make(files: Mapping[str, bytes], *, sha: str | None = None, force: bool = False,
             source_dir: str = "notebooks", dry_run: bool = False, **target_kw: Any) -> DeployContext:
        counter["n"] += 1
        sha = sha or f"{counter['n']:040x}"
        target_kw.setdefault("max_parallel", 8)
        config = PlatformConfig(repository=Repository(url="https://github.com/contoso/data-platform"),
                                databricks=DatabricksSource(source_dir=source_dir),
                                environments={"dev": Environment(databricks=databricks_standin.target(
                                    TARGET, **target_kw))})
        snapshot = CommitSnapshot(sha, {f"{source_dir}/{k}": v for k, v in files.items()})
        return DeployContext(config, "dev", snapshot, settings=databricks_standin.settings(), clock=SystemClock(),
                             storage=storage, ledger=ledger, force=force, dry_run=dry_run,
                             deployment_id=ledger.new_deployment_id("dev", "notebooks", sha))
    return make
