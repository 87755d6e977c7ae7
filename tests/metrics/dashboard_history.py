"""The dashboard's history: docs/metrics.md's worked example in prod (failures, a rollback, incidents)
plus what an operator's morning looks like: deployments waiting for approval (one whose authors
cannot be told apart from an approver), a failed deployment with steps, per-object results and an
ARM error, drift, a development environment stopped by its schedule, and hostile text everywhere
a person can put text (commit message, author name, notebook path, error message).

``NOW`` is Sunday 2026-03-01 12:05 UTC, on purpose not midnight: buckets anchored on ``now - days``
labelled every morning deployment a day early.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.audit import Activity, AuditLedger, CommitInfo, DeploymentRecord
from shared.audit.records import ObjectResult, StepRecord
from shared.clock import FakeClock
from shared.config import PlatformConfig, parse_config
from shared.deploy.current import CurrentDeployments, Deployed
from shared.storage import StorageAccount

from .history import deploy, sha, t, write_history

NOW = datetime(2026, 3, 1, 12, 5, tzinfo=UTC)
HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
HOSTILE_MESSAGE = f"fix: orders {HOSTILE} & more"
HOSTILE_AUTHOR = '<b onmouseover="window.__pwned=3">Eve</b>'
HOSTILE_PATH = '/Shared/etl/<svg onload="window.__pwned=4">.py'
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def dashboard_config() -> PlatformConfig:
    return parse_config({
        "repository": {"provider": "local", "url": "https://example.invalid/platform"},
        "environments": {
            "dev": {"deploy_on": ["push"],
                    "schedule": {"time_zone": "Europe/Amsterdam", "stop": "0 0 19 * * *",
                                 "start": "0 0 7 * * 1-5"}},
            "test": {"deploy_on": ["promotion"], "requires": ["dev"], "protect_deletes": True},
            "prod": {"deploy_on": ["promotion"], "requires": ["test"], "approval": "required"}},
        "people": [{"entra": "alice@contoso.example", "git": ["alice"]},
                   {"entra": "bob@contoso.example", "git": ["bob", "bob@example.com"]}],
        "metrics": {"incident_attribution_days": 7},
    })


def _waiting(ledger: AuditLedger, clock: FakeClock, env: str, created: datetime, commits: list[CommitInfo],
             actor: str, reason: str) -> str:
    dep_id = ledger.new_deployment_id(env, "adf", f"wait-{created.isoformat()}", when=created)
    clock.set(created)
    ledger.create_deployment(DeploymentRecord(
        id=dep_id, environment=env, component="adf", commit=commits[-1].id, actor=actor, trigger="promotion",
        commit_time=commits[-1].timestamp, queued_at=created, commits=commits))
    ledger.transition(dep_id, "waiting_approval", at=created, extra={"waiting_reason": reason})
    return dep_id


def _failure_details(ledger: AuditLedger, dep_id: str) -> None:
    """D2 (prod, Feb 2 10:00-10:20) failed starting a trigger: its steps, results and ARM error."""
    ledger.record_step(StepRecord(dep_id, 1, "plan", "succeeded", t(2, 10, 0), t(2, 10, 1), {"actions": 3}))
    ledger.record_step(StepRecord(dep_id, 2, "deploy", "failed", t(2, 10, 1), t(2, 10, 19),
                                  error=f"ARM deployment failed: {HOSTILE}"))
    ledger.record_step(StepRecord(dep_id, 3, "restore", "succeeded", t(2, 10, 19), t(2, 10, 20)))
    # Recorded in the order they happened (ledger order is by record time, not by name).
    ledger.record_objects(dep_id, [ObjectResult("pipeline", "pl_orders", "update", "succeeded",
                                                at=t(2, 10, 5).isoformat())])
    ledger.record_objects(dep_id, [ObjectResult("trigger", "tr_daily", "start", "failed",
                                                error="BadRequest: the trigger's pipeline is invalid",
                                                details={"code": "TriggerStartFailed"},
                                                at=t(2, 10, 18).isoformat()),
                                   ObjectResult("dataset", "ds_archive", "delete", "skipped",
                                                at=(t(2, 10, 18) + timedelta(seconds=30)).isoformat())])
    plan: dict[str, Any] = {"component": "adf", "environment": "prod", "commit": sha(3),
                            "counts": {"update": 1, "start": 1, "delete": 1},
                            "actions": [{"action": "update", "object_type": "pipeline", "name": "pl_orders",
                                         "reason": "definition changed"},
                                        {"action": "start", "object_type": "trigger", "name": "tr_daily"},
                                        {"action": "delete", "object_type": "dataset", "name": "ds_archive",
                                         "reason": "removed from Git"}],
                            "warnings": [f"warning with {HOSTILE}"], "refused": None, "data": {}}
    ledger.update_deployment(
        dep_id, allow_final=True, trace_id=TRACE_ID, plan=plan,
        error=f"1 of 3 objects failed: trigger tr_daily ({HOSTILE})",
        error_details={"code": "DeploymentFailed", "status_code": 400,
                       "message": "At least one resource deployment operation failed.",
                       "correlation_id": "8d1c7c2e-1111-2222-3333-444455556666",
                       "details": [{"code": "BadRequest", "message": f"Trigger tr_daily: {HOSTILE}"}]})


def write_dashboard_history(ledger: AuditLedger, clock: FakeClock, storage: StorageAccount) -> dict[str, str]:
    ids = write_history(ledger, clock)
    _failure_details(ledger, ids["D2"])
    hostile = [(sha(20), t(27, 8))]
    d10 = deploy(ledger, clock, created=t(27, 10), ended=t(27, 10, 12), status="succeeded", actor="alice",
                 commits=hostile)
    ids["D10"] = d10.id
    ledger.update_deployment(d10.id, allow_final=True,
                             commits=[CommitInfo(sha(20), t(27, 8), HOSTILE_AUTHOR, HOSTILE_MESSAGE)])
    dev = deploy(ledger, clock, created=t(26, 9), ended=t(26, 9, 4), status="succeeded", actor="bob",
                 commits=[(sha(21), t(26, 8))], env="dev")
    ids["DEV1"] = dev.id
    current = CurrentDeployments(storage)
    for env, component, rec in (("prod", "adf", d10), ("prod", "notebooks", ledger.get_deployment(ids["D7"])),
                                ("dev", "adf", dev)):
        current.advance(Deployed(env, component, rec.commit, rec.id, rec.ended_at or NOW, rec.trigger), seen=None)
    ids["W1"] = _waiting(ledger, clock, "prod", NOW - timedelta(hours=3),
                         [CommitInfo(sha(22), t(28, 9), "bob", f"feat: {HOSTILE}", author_email="bob@example.com")],
                         "alice", "waiting for approval: environment prod requires approval")
    ids["W2"] = _waiting(ledger, clock, "test", NOW - timedelta(hours=2),
                         [CommitInfo(sha(23), t(28, 10), "zed", "chore: drop old datasets")], "zed",
                         "waiting for approval: the plan deletes 1 object: dataset ds_old "
                         "(environment test protects deletes)")
    clock.set(NOW)
    stop, _ = ledger.record_activity(Activity(
        environment="dev", kind="environment_stop", key="dev-stop-1", at=datetime(2026, 2, 27, 18, tzinfo=UTC),
        actor=None, status="succeeded", summary="stopped dev by its schedule",
        data={"trigger": "schedule", "restore": [], "snapshot": []}))
    ids["STOP"] = stop.id
    ledger.record_activity(Activity(
        environment="prod", kind="drift", key="drift-1", at=t(27, 10, 5), actor=None, status="overwritten",
        summary=f"{HOSTILE_PATH} was changed in the workspace since our last sync; overwritten from Git",
        deployment_id=d10.id, data={"path": HOSTILE_PATH, "component": "notebooks", "commit": sha(20)}))
    return ids
