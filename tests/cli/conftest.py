"""A configuration on a local git repository and the Databricks stand-in, storage on Azurite (per test)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from devhost.azurite import Azurite
from devhost.standins.databricks import DatabricksStandIn
from tests.deploy.helpers import LocalRepo


@pytest.fixture
def repo(tmp_path: Path) -> LocalRepo:
    r = LocalRepo(tmp_path / "repo")
    r.commit({"notebooks/a.py": "# Databricks notebook source\nprint(1)\n",
              "notebooks/b.py": "# Databricks notebook source\nprint(2)\n"})
    return r


@pytest.fixture
def cli_config(tmp_path: Path, repo: LocalRepo, databricks_standin: DatabricksStandIn) -> Path:
    target = databricks_standin.target().model_dump(exclude_defaults=True)
    cfg: dict[str, Any] = {
        "repository": {"provider": "local", "url": str(repo.path)},
        "databricks": {"source_dir": "notebooks"},
        "security": {"local_identities": True},
        "environments": {
            "dev": {"deploy_on": ["push"], "databricks": {**target, "target_dir": "/Shared/dev"}},
            "prod": {"deploy_on": ["manual"], "approval": "required",
                     "databricks": {**target, "target_dir": "/Shared/prod"}}}}
    path = tmp_path / "environments.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture
def cli_env(azurite: Azurite, unique_prefix: str, cli_config: Path,
            databricks_standin: DatabricksStandIn) -> dict[str, str]:
    """App settings of a storage account nobody provisioned (a prefix no test used)."""
    return {**databricks_standin.settings().environ, "AzureWebJobsStorage": azurite.connection_string,
            "DATAOPS_STORAGE_PREFIX": unique_prefix, "DATAOPS_DEPLOY_QUEUE": f"{unique_prefix}-deployments",
            "DATAOPS_CONFIG": str(cli_config)}
