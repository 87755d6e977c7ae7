"""``dataops plan | deploy | rollback`` against a local repository, Azurite and our own deployer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from shared.audit import AuditLedger

from .helpers import LocalRepo


@pytest.fixture
def cli_env(tmp_path: Path, repo: LocalRepo, storage, azurite, monkeypatch, deployers) -> Path:
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    for name, value in storage.names.app_settings().items():
        monkeypatch.setenv(name, value)
    cfg = {"repository": {"provider": "local", "url": str(repo.path)}, "security": {"local_identities": True},
           "environments": {"dev": {"deploy_on": ["push"],
                                    "databricks": {"host": "http://127.0.0.1:9", "target_dir": "/Shared/dev"}}}}
    path = tmp_path / "environments.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_plan_prints_a_table_and_json(cli_env: Path, repo: LocalRepo, capsys, dataops):
    sha = repo.commit({"notebooks/a.py": "x", "notebooks/b.py": "y"})
    assert dataops(["--config", str(cli_env), "plan", "--env", "dev"]) == 0
    out = capsys.readouterr().out
    assert f"notebooks -> dev at {sha[:12]}" in out and "ACTION" in out and "notebooks/b.py" in out
    assert dataops(["--config", str(cli_env), "plan", "--env", "dev", "--component", "notebooks", "--json"]) == 0
    (plan,) = json.loads(capsys.readouterr().out)
    assert plan["commit"] == sha and plan["counts"] == {"update": 2}


def test_plan_errors_are_messages_not_tracebacks(cli_env: Path, repo: LocalRepo, capsys, dataops):
    repo.commit({"a.py": "x"})
    assert dataops(["--config", str(cli_env), "plan", "--env", "nope"]) == 2
    assert "unknown environment" in capsys.readouterr().err
    assert dataops(["--config", str(cli_env), "plan", "--env", "dev", "--component", "adf"]) == 2
    assert dataops(["--config", str(cli_env), "plan", "--env", "dev", "--ref", "no-such"]) == 2
    assert "no-such" in capsys.readouterr().err


def test_deploy_dry_run_changes_nothing_then_deploy_and_rollback(cli_env, repo, storage, capsys, deployers,
                                                                  dataops):
    ledger = AuditLedger(storage)
    first = repo.commit({"a.py": "1"})
    assert dataops(["--config", str(cli_env), "deploy", "--env", "dev", "--dry-run"]) == 0
    assert ledger.list_deployments("dev").items == [] and deployers["notebooks"].applied == []
    capsys.readouterr()
    assert dataops(["--config", str(cli_env), "deploy", "--env", "dev", "--actor", "ada", "--json"]) == 0
    (rec,) = json.loads(capsys.readouterr().out)
    assert rec["status"] == "succeeded" and rec["trigger"] == "manual" and rec["actor"] == "ada"
    second = repo.commit({"a.py": "2"})
    assert dataops(["--config", str(cli_env), "deploy", "--env", "dev", "--json"]) == 0
    capsys.readouterr()
    # An older commit deployed by hand over a newer one is superseded unless forced.
    assert dataops(["--config", str(cli_env), "deploy", "--env", "dev", "--ref", first, "--json"]) == 1
    assert json.loads(capsys.readouterr().out)[0]["status"] == "superseded"
    assert dataops(["--config", str(cli_env), "rollback", "--env", "dev", "--component", "notebooks",
                 "--dry-run"]) == 0
    assert f"back to {first[:12]}" in capsys.readouterr().out
    # A rollback needs a verified identity: the Azure sign-in, or --actor with local identities.
    assert dataops(["--config", str(cli_env), "rollback", "--env", "dev", "--component", "notebooks", "--actor", "bob",
                    "--json"]) == 0
    (rb,) = json.loads(capsys.readouterr().out)
    assert rb["status"] == "succeeded" and rb["trigger"] == "rollback" and rb["commit"] == first
    assert rb["rollback_of"] and ledger.get_deployment(rb["rollback_of"]).commit == second
    assert deployers["notebooks"].applied == [first, second, first]


def test_force_over_the_deployed_commit_needs_a_reason(cli_env, repo, storage, capsys, deployers, dataops):
    first = repo.commit({"a.py": "1"})
    repo.commit({"a.py": "2"})
    assert dataops(["--config", str(cli_env), "deploy", "--env", "dev", "--actor", "ada"]) == 0
    capsys.readouterr()
    assert dataops(["--config", str(cli_env), "deploy", "--env", "dev", "--ref", first, "--force"]) == 2
    assert "--reason" in capsys.readouterr().err and len(deployers["notebooks"].applied) == 1
    assert dataops(["--config", str(cli_env), "deploy", "--env", "dev", "--ref", first, "--force",
                 "--reason", "bad release", "--json"]) == 0
    (rec,) = json.loads(capsys.readouterr().out)
    assert rec["status"] == "succeeded" and rec["forced"] and rec["extra"]["force_reason"] == "bad release"
