"""The verify step of a deployment: audit and trace, promotion held on failure, automatic rollback,
data-quality issues from a notebook's output (orchestrator + Azurite + local git + stand-ins)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shared.audit import AuditLedger
from shared.config import parse_config
from shared.metrics.dora import collect_facts
from shared.metrics.incidents import IncidentBook
from shared.storage import StorageAccount
from shared.verify.gate import VerifyStep
from shared.verify.runner import Verifier
from tests.fixtures.identity import PEOPLE
from tests.release.helpers import Flow, GitRepo, ReleaseDeployer

from .conftest import TARGET_DIR, Platform

SMOKE = f"{TARGET_DIR}/verify/smoke"
CHECKS = [{"name": "smoke", "notebook": "verify/smoke", "on": ["notebooks"], "timeout": 10},
          {"name": "advisory", "http": {"url_setting": "HEALTH_URL", "expect_status": 200}, "blocking": False}]


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return GitRepo(tmp_path / "data-platform")


def flow_for(platform: Platform, repo: GitRepo, storage: StorageAccount, ledger: AuditLedger,
             verifier: Verifier, test_extra: dict[str, Any] | None = None) -> Flow:
    config = parse_config({
        "repository": {"provider": "local", "url": str(repo.path)}, "people": PEOPLE,
        "verification": {"poll_interval": 0.01},
        "environments": {
            "dev": {"deploy_on": ["push"]},
            "test": {"deploy_on": ["promotion"], "requires": ["dev"],
                     **platform.environment(CHECKS, **(test_extra or {}))},
            "prod": {"deploy_on": ["promotion"], "requires": ["test"], "approval": "required"}}})
    flow = Flow(config, storage, ledger, ReleaseDeployer(), settings=platform.settings())
    flow.orchestrator.verify = VerifyStep(verifier)
    return flow


def test_passing_verification_promotes_and_is_in_the_audit_and_trace(platform, repo, storage, ledger, verifier,
                                                                      spans):  # type: ignore[no-untyped-def]
    platform.dbx.seed_notebook(SMOKE, 'dbutils.notebook.exit("ok")')
    platform.http.status[0] = 500  # the non-blocking check fails: recorded, nothing held
    flow = flow_for(platform, repo, storage, ledger, verifier)
    sha = repo.commit({"notebooks/a.py": "1"})
    dev = flow.push(sha)
    flow.drain()
    assert flow.get(dev.id).status == "succeeded"
    (test,) = flow.of("test")
    assert test.status == "succeeded"
    (prod,) = flow.of("prod")
    assert prod.status == "waiting_approval"  # promoted only after verification passed
    steps = ledger.steps(test.id)
    assert [s["name"] for s in steps] == ["plan", "apply", "verify"]
    assert steps[-1]["status"] == "succeeded" and steps[-1]["details"]["summary"] == "1 of 2 checks passed"
    checks = {o.name: o for o in ledger.objects(test.id) if o.object_type == "check"}
    smoke, advisory = checks["smoke"], checks["advisory"]
    assert (smoke.action, smoke.status) == ("verify", "succeeded")
    assert smoke.details["state"] == "passed" and smoke.details["run_id"] and smoke.details["run_url"]
    assert smoke.details["output"] == "ok" and smoke.details["duration_s"] >= 0
    assert advisory.status == "failed" and advisory.error == "answered 500, expected 200"
    assert advisory.details["blocking"] is False
    assert [s["name"] for s in ledger.steps(dev.id)] == ["plan", "apply"]  # dev has no checks
    verify_spans = [s for s in spans.get_finished_spans() if s.name == "dataops.verify smoke"]
    assert verify_spans and verify_spans[0].attributes["dataops.verify.state"] == "passed"
    assert verify_spans[0].attributes["dataops.verify.run_id"] == smoke.details["run_id"]
    task = next(s for s in spans.get_finished_spans() if s.name == "dataops.task verify")
    assert verify_spans[0].parent.span_id == task.context.span_id
    assert verify_spans[0].context.trace_id == task.context.trace_id


def test_blocking_failure_fails_the_deployment_at_verify_and_holds_promotion(platform, repo, storage, ledger,
                                                                             verifier):  # type: ignore[no-untyped-def]
    platform.dbx.seed_notebook(SMOKE, "x")
    platform.dbx.script_run(SMOKE, result_state="FAILED", error="AssertionError: 0 rows")
    flow = flow_for(platform, repo, storage, ledger, verifier,
                    {"notify": [{"kind": "webhook", "url_setting": "NOTIFY_URL", "on": ["failed"]}]})
    sha = repo.commit({"notebooks/a.py": "1"})
    flow.push(sha)
    flow.drain()
    (test,) = flow.of("test")
    test = flow.get(test.id)
    assert test.status == "failed"
    (note,) = platform.http.received  # the failed notification went out
    assert "verification failed" in json.dumps(note) and test.id in json.dumps(note)
    assert test.error.startswith("verification failed: 1 blocking check did not pass: smoke (databricks_notebook)")
    assert "AssertionError: 0 rows" in test.error
    assert test.error_details["failed_step"] == "verify"
    assert [s["status"] for s in ledger.steps(test.id)] == ["succeeded", "succeeded", "failed"]
    assert flow.of("prod") == []  # promotion held
    # It counts as a change failure in the metrics.
    facts = collect_facts(ledger.list_deployments("test", limit=10).items, [], _window(ledger))
    assert [d.failed for d in facts.deployments] == [True]


def _window(ledger: AuditLedger) -> Any:
    from datetime import timedelta

    from shared.metrics.dora import Window

    now = ledger.clock.now()
    return Window(now - timedelta(days=1), now + timedelta(days=1))


def test_failed_verification_rolls_back_with_on_failure_rollback(platform, repo, storage, ledger,
                                                                  verifier):  # type: ignore[no-untyped-def]
    platform.dbx.seed_notebook(SMOKE, "x")
    flow = flow_for(platform, repo, storage, ledger, verifier, {"on_failure": "rollback"})
    good = repo.commit({"notebooks/a.py": "1"})
    flow.push(good)
    flow.drain()
    assert [d.status for d in flow.of("test")] == ["succeeded"]
    platform.dbx.script_run(SMOKE, result_state="FAILED", error="boom")
    bad = repo.commit({"notebooks/a.py": "2"})
    flow.push(bad)
    for _ in range(2):  # dev, then its promotion to test (which fails verification)
        for req in flow.take():
            flow.ledger.clock.advance(1)  # type: ignore[attr-defined]
            flow.orchestrator.run(req)
    failed = next(d for d in flow.of("test") if d.commit == bad)
    assert failed.status == "failed" and failed.error_details["failed_step"] == "verify"
    (rollback,) = [d for d in flow.of("test") if d.trigger == "rollback"]
    assert rollback.rollback_of == failed.id and rollback.commit == good
    platform.dbx.script_run(SMOKE)  # the old commit verifies fine
    flow.drain()
    assert flow.get(rollback.id).status == "succeeded"
    assert flow.get(failed.id).extra["rolled_back_by"] == rollback.id
    assert flow.deployer.applied[-1] == ("test", good)
    assert [d.commit for d in flow.of("prod")] == [good]  # the bad commit was never promoted


def test_data_quality_output_records_issues_for_the_deployment_and_its_authors(
        platform, repo, storage, ledger, verifier):  # type: ignore[no-untyped-def]
    results = [{"expectation": "orders_amount_not_null", "passed": False, "table": "sales.orders",
                "observed": 12, "message": "12 rows with a null amount"},
               {"expectation": "orders_unique_id", "passed": True},
               {"expectation": "late_rows_below_1pct", "passed": False, "severity": "warn", "observed": 0.02}]
    platform.dbx.seed_notebook(SMOKE, f"dbutils.notebook.exit({json.dumps(json.dumps(results))})")
    flow = flow_for(platform, repo, storage, ledger, verifier)
    sha = repo.commit({"notebooks/a.py": "1"})
    flow.push(sha, actor="ada")
    flow.drain()
    (test,) = flow.of("test")
    test = flow.get(test.id)
    assert test.status == "failed"  # one failed error-severity expectation fails the check
    assert "1 of 3 data-quality expectations failed: orders_amount_not_null" in test.error
    issues = IncidentBook(ledger, ledger.clock).list("test")
    assert sorted(i.title for i in issues) == ["smoke: late_rows_below_1pct", "smoke: orders_amount_not_null"]
    issue = next(i for i in issues if i.title.endswith("orders_amount_not_null"))
    assert issue.kind == "data_quality" and issue.deployment_id == test.id and issue.status == "open"
    assert issue.cause["expectation"]["observed"] == 12 and issue.cause["commit"] == sha
    assert issue.cause["authors"] and all(a in {c for c in issue.cause["authors"]}
                                          for a in test.commits[0].people())
    # The data-quality metric fills itself, per developer too (the deployment's actor).
    facts = collect_facts(ledger.list_deployments("test", limit=10).items, issues, _window(ledger))
    assert sorted(facts.quality) == [("ada", True), ("ada", True)]
    # Verifying the same deployment again records the same issues once.
    flow.orchestrator.verify(_ctx(flow, test), test, _ok())  # type: ignore[misc]
    assert len(IncidentBook(ledger, ledger.clock).list("test")) == 2


def _ok() -> Any:
    from shared.deploy.model import ApplyResult

    return ApplyResult("succeeded")


def _ctx(flow: Flow, rec: Any) -> Any:
    from shared.deploy.model import DeployContext

    snapshot = flow.orchestrator.git().snapshot(rec.commit)
    return DeployContext(config=flow.config, environment=rec.environment, snapshot=snapshot,
                         settings=flow.settings, clock=flow.ledger.clock, storage=flow.storage,
                         ledger=flow.ledger, deployment_id=rec.id)
