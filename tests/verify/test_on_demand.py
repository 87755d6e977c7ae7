"""``dataops verify`` (the installed console script, as a subprocess) and
``POST /api/environments/{env}/verify`` then its status (through the dev host's dispatcher, the queue
worker run by the dev host's listener), against the stand-ins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from devhost.azurite import Azurite
from shared.app import AppContext, set_current
from shared.audit.records import CommitInfo, DeploymentRecord
from shared.deploy.current import CurrentDeployments, Deployed
from shared.metrics.incidents import IncidentBook
from shared.settings import Settings, StorageNames
from shared.storage import StorageAccount
from tests.fixtures.identity import AUTH_ON
from tests.metrics.conftest import Client

from .conftest import TARGET_DIR, Platform

SMOKE = f"{TARGET_DIR}/verify/smoke"
DATAOPS = Path(sys.executable).parent / "dataops"
CHECKS = [{"name": "smoke", "notebook": "verify/smoke", "on": ["notebooks"]},
          {"name": "adf-smoke", "pipeline": "pl_smoke", "on": ["adf"],
           "parameters": {"day": "2026-12-01"}}]
PIPELINE = {"activities": [{"name": "Count", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1}}],
            "parameters": {"day": {"type": "String"}}}


def _config_file(platform: Platform, tmp_path: Path) -> Path:
    raw = {"repository": {"provider": "local", "url": "https://example.invalid/p"},
           "verification": {"poll_interval": 0.01},
           "environments": {"test": platform.environment(CHECKS)}}
    path = tmp_path / "environments.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _deployed(storage: StorageAccount, ledger, environment: str = "test") -> DeploymentRecord:  # type: ignore[no-untyped-def]
    """A succeeded notebooks deployment the environment holds (what data-quality issues go to)."""
    rec = DeploymentRecord(id=ledger.new_deployment_id(environment, "notebooks", "seed"), environment=environment,
                           component="notebooks", commit="a" * 40, ref="refs/heads/main", repository="",
                           actor="ada", trigger="push", status="queued", queued_at=ledger.clock.now(),
                           commits=[CommitInfo("a" * 40, None, "ada", "change", "ada@example.com")])
    rec, _ = ledger.create_deployment(rec)
    ledger.transition(rec.id, "running")
    ledger.transition(rec.id, "succeeded")
    CurrentDeployments(storage).advance(Deployed(environment, "notebooks", rec.commit, rec.id, ledger.clock.now(),
                                                 "push"), seen=None)
    return rec


def test_cli_verify_runs_the_checks_and_exits_by_their_outcome(platform: Platform, tmp_path: Path, azurite: Azurite,
                                                               unique_prefix: str, storage, ledger) -> None:  # type: ignore[no-untyped-def]
    config = _config_file(platform, tmp_path)
    platform.dbx.seed_notebook(SMOKE, 'dbutils.notebook.exit("fine")')
    platform.arm.put_object(platform.factory, "pipelines", "pl_smoke", PIPELINE)
    env = {**os.environ, **platform.settings().environ, "AzureWebJobsStorage": azurite.connection_string,
           **StorageNames(unique_prefix).app_settings(), "AZURE_CORE_ONLY_SHOW_ERRORS": "1"}
    env.pop("DATAOPS_CONFIG", None)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(DATAOPS), "--config", str(config), "verify", *args], env=env,
                              capture_output=True, text=True, timeout=120)

    out = cli("--env", "test", "--json")
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["status"] == "passed" and [c["name"] for c in body["checks"]] == ["smoke", "adf-smoke"]
    assert body["checks"][0]["output"] == "fine" and body["checks"][1]["run_state"] == "Succeeded"
    out = cli("--env", "test", "--component", "adf")
    assert out.returncode == 0, out.stderr
    assert "adf-smoke" in out.stdout and "smoke " not in out.stdout.replace("adf-smoke", "")
    assert "verification of test: passed (1 of 1 checks passed)" in out.stdout
    # A failing check: exit 1, the reason on the table; recorded as an activity.
    platform.arm.script_pipeline("pl_smoke", status="Failed", failed_activity="Count", message="0 rows")
    out = cli("--env", "test", "--component", "adf")
    assert out.returncode == 1 and "activity Count failed: 0 rows" in out.stdout
    acts = [a for a in ledger.list_activity("test").items if a.kind == "verification"]
    assert sorted(a.status for a in acts) == ["failed", "passed", "passed"]
    assert all(a.actor and a.actor.startswith("cli") for a in acts)
    # The caller's mistakes: exit 2 with a message, never a traceback.
    out = cli("--env", "nope")
    assert out.returncode == 2 and "unknown environment 'nope'" in out.stderr and "Traceback" not in out.stderr
    out = cli("--env", "test", "--component", "spark")
    assert out.returncode == 2 and "invalid choice" in out.stderr


@pytest.fixture
def app_ctx(platform: Platform, storage: StorageAccount, ledger, tmp_path: Path) -> Iterator[AppContext]:  # type: ignore[no-untyped-def]
    from shared.config import load_config

    settings = Settings({**AUTH_ON, **platform.settings().environ})
    ctx = AppContext(settings=settings, clock=ledger.clock, _config=load_config(_config_file(platform, tmp_path)),
                     _storage=storage)
    set_current(ctx)
    try:
        yield ctx
    finally:
        set_current(None)


def test_route_verifies_and_records_data_quality_issues(platform: Platform, app_ctx: AppContext, storage,
                                                        ledger) -> None:  # type: ignore[no-untyped-def]
    held = _deployed(storage, ledger)
    results = [{"expectation": "no_future_dates", "passed": False, "observed": 3}]
    platform.dbx.seed_notebook(SMOKE, f"dbutils.notebook.exit({json.dumps(json.dumps(results))})")
    client = Client()
    status, body = client.call("POST", "environments/test/verify?component=notebooks")
    assert status == 202 and body["status"] == "queued", body
    status, queued = client.call("GET", f"environments/test/verify/{body['id']}")
    assert status == 202 and queued["status"] == "queued"
    from devhost.host import FunctionHost
    from function_app import app

    worker = FunctionHost(app, {}, environ={"AzureWebJobsStorage": str(storage.connection_string),
                                            **storage.names.app_settings()}).listener("deployment_worker")
    assert worker.process_once() == 1  # the queue worker runs it
    status, body = client.call("GET", f"environments/test/verify/{body['id']}")
    assert status == 200, body
    assert body["status"] == "failed" and body["component"] == "notebooks"
    (check,) = body["checks"]
    assert check["name"] == "smoke" and check["state"] == "failed" and check["run_id"]
    assert check["expectations"] == {"total": 1, "failed": [{"expectation": "no_future_dates", "passed": False,
                                                             "severity": "error", "observed": 3}]}
    (issue,) = IncidentBook(ledger, ledger.clock).list("test")
    assert issue.kind == "data_quality" and issue.deployment_id == held.id and issue.title == "smoke: no_future_dates"
    assert "ada" in issue.cause["authors"]
    # Unknown environment 404, unknown component 400, no identity 401.
    assert client.call("POST", "environments/nope/verify")[0] == 404
    assert client.call("POST", "environments/test/verify?component=spark")[0] == 400
    assert client.call("POST", "environments/test/verify", as_user=None)[0] == 401
