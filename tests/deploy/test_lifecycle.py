"""One deployment lifecycle: every path opens a deployment the same way and finishes it the same way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from devhost.standins.githost import GitHostStandIn
from shared.audit import AuditLedger
from shared.deploy.lifecycle import Opening, finish_deployment, open_deployment
from shared.deploy.orchestrator import record_poisoned
from shared.deploy.queue import DeploymentQueue
from shared.errors import Conflict

from .helpers import LocalRepo

SECRET = "ghp-test-token"


@pytest.fixture
def githost(repo: LocalRepo):  # type: ignore[no-untyped-def]
    host = GitHostStandIn(token=SECRET).start()
    host.add_repo("contoso/data-platform", str(repo.path))
    yield host
    host.stop()


def _config(tmp_path: Path, repository: dict[str, str]) -> Path:
    cfg = {"repository": repository, "security": {"local_identities": True},
           "environments": {"dev": {"deploy_on": ["push"],
                                    "databricks": {"host": "http://127.0.0.1:9", "target_dir": "/Shared/dev"}}}}
    path = tmp_path / "environments.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_cli_deploy_stores_the_repository_url_without_its_credentials(
        tmp_path, repo, githost, storage, azurite, monkeypatch, capsys, dataops):
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    for name, value in storage.names.app_settings().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GIT_TOKEN", SECRET)
    sha = repo.commit({"notebooks/a.py": "x"})
    cfg = _config(tmp_path, {"provider": "github", "url": "https://github.com/contoso/data-platform",
                             "api_url": githost.url, "token_setting": "GIT_TOKEN"})
    url = f"https://x-access-token:{SECRET}@github.com/contoso/data-platform"
    assert dataops(["--config", str(cfg), "deploy", "--env", "dev", "--repo", url, "--actor", "ada", "--json"]) == 0
    out = capsys.readouterr().out
    (rec,) = json.loads(out)
    assert rec["status"] == "succeeded" and rec["commit"] == sha
    assert SECRET not in out
    stored = AuditLedger(storage).get_deployment(rec["id"])
    assert stored.repository == "https://github.com/contoso/data-platform"
    assert SECRET not in json.dumps(stored.to_json(), default=str)


def test_cli_rollback_is_the_http_rollback(tmp_path, repo, storage, azurite, monkeypatch, capsys, dataops):
    """The CLI records the rollback through request_rollback: the same activity, checks and link."""
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    for name, value in storage.names.app_settings().items():
        monkeypatch.setenv(name, value)
    cfg = _config(tmp_path, {"provider": "local", "url": str(repo.path)})
    first = repo.commit({"a.py": "1"})
    assert dataops(["--config", str(cfg), "deploy", "--env", "dev", "--actor", "ada"]) == 0
    repo.commit({"a.py": "2"})
    assert dataops(["--config", str(cfg), "deploy", "--env", "dev", "--actor", "ada"]) == 0
    capsys.readouterr()
    assert dataops(["--config", str(cfg), "rollback", "--env", "dev", "--component", "notebooks", "--actor", "bob",
                 "--json"]) == 0
    (rb,) = json.loads(capsys.readouterr().out)
    assert rb["status"] == "succeeded" and rb["commit"] == first and rb["extra"]["rollback"]["from_commit"]
    ledger = AuditLedger(storage)
    acts = ledger.list_activity("dev", kind="rollback").items
    assert [a.deployment_id for a in acts] == [rb["id"]]
    assert ledger.get_deployment(rb["rollback_of"]).status == "rolled_back"


def test_open_scrubs_and_queues_once_recorded(ledger, storage):
    queue = DeploymentQueue(storage)
    opening = Opening(environment="dev", component="notebooks", commit="a" * 40, trigger="manual",
                      repository="https://user:hunter22@git.example/x/y.git", actor="ada", seed="s1")
    rec = open_deployment(ledger, queue, opening)
    again = open_deployment(ledger, queue, opening)  # a retry: the same record
    assert rec.id == again.id and rec.repository == "https://git.example/x/y.git"
    assert [r.deployment_id for r in queue.peek()] == [rec.id, rec.id]  # still queued: sent again
    other = open_deployment(ledger, None, Opening(environment="dev", component="notebooks", commit="b" * 40,
                                                  trigger="manual", seed="s2"))
    assert ledger.get_deployment(other.id).status == "queued" and len(queue.peek()) == 2


def test_every_ending_runs_the_hooks_once(ledger, storage):
    seen: list[tuple[str, str]] = []
    queue = DeploymentQueue(storage)
    rec = open_deployment(ledger, queue, Opening(environment="dev", component="notebooks", commit="c" * 40,
                                                 trigger="push", seed="p"))
    (msg,) = storage.queue(storage.names.deploy_queue).receive_messages()
    # A poisoned request ends failed through the same finish as any other ending.
    assert record_poisoned(ledger, msg.content, "poisoned", hooks=[lambda r: seen.append((r.id, r.status))]) == rec.id
    assert seen == [(rec.id, "failed")]
    with pytest.raises(Conflict):
        finish_deployment(ledger, rec, "succeeded", hooks=[lambda r: seen.append((r.id, r.status))])
    assert seen == [(rec.id, "failed")]
    rec2 = open_deployment(ledger, None, Opening(environment="dev", component="notebooks", commit="d" * 40,
                                                 trigger="push", seed="q"))
    ended = finish_deployment(ledger, rec2, "failed", error="token https://u:s3cr3tpass@h/x and s3cr3tpass",
                              secrets=["s3cr3tpass"])
    assert "s3cr3tpass" not in (ended.error or "") and ended.ended_at is not None
