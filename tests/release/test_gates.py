"""Release gates nobody walks around (issue 15): rollback is a release like any other, ``to`` must
have run there, ``requires`` holds for manual deployments, a forced rollback is not an emergency."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from shared.cli import main
from shared.errors import BadRequest, Forbidden
from shared.identity import Principal
from shared.release import Notifier, decide, request_rollback
from tests.fixtures.identity import PEOPLE

from .helpers import Flow, make_config

SATURDAY = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)  # inside the Friday 17:00 + 64h freeze
PROD = {"deploy_on": ["manual"], "approval": "required",
        "windows": [{"kind": "deny", "start": "0 0 17 * * 5", "duration": "64h", "time_zone": "UTC"}],
        "notify": [{"kind": "webhook", "url_setting": "RELEASE_HOOK_URL", "on": ["failed"]}]}


def _prod_flow(repo, storage, ledger, deployer, **security: Any) -> Flow:  # type: ignore[no-untyped-def]
    config = make_config(repo, {"prod": PROD})
    if security:
        config = config.model_copy(update={"security": config.security.model_copy(update=security)})
    return Flow(config, storage, ledger, deployer)


def _deployed(flow: Flow, sha: str) -> str:
    """Deploy ``sha`` to prod through approval (on a Monday, outside the freeze)."""
    rec = flow.push(sha, env="prod", trigger="manual")
    flow.drain()
    decide(flow.ledger, flow.queue, flow.config, rec.id, approve=True, actor="bob@contoso.example")
    flow.drain()
    assert flow.get(rec.id).status == "succeeded"
    return rec.id


def test_a_rollback_waits_for_approval_and_for_the_window(repo, storage, ledger, deployer):
    flow = _prod_flow(repo, storage, ledger, deployer)
    s1 = repo.commit({"n.py": "1"})
    _deployed(flow, s1)
    bad = _deployed(flow, repo.commit({"n.py": "2"}))
    ledger.clock.set(SATURDAY)  # type: ignore[attr-defined]
    rb = request_rollback(ledger, flow.queue, flow.config, bad, actor="carol@contoso.example", force=True)
    flow.drain()
    assert flow.get(rb.id).status == "waiting_approval"  # not waved through: a rollback is a release
    decide(ledger, flow.queue, flow.config, rb.id, approve=True, actor="bob@contoso.example")
    flow.drain()
    got = flow.get(rb.id)
    assert got.status == "waiting_window" and "deny window" in got.extra["waiting_reason"]  # force is no pass
    assert [c for _, c in deployer.applied][-1] != s1


def test_rollback_to_must_be_a_commit_that_succeeded_there(repo, storage, ledger, deployer):
    flow = _prod_flow(repo, storage, ledger, deployer)
    s1 = repo.commit({"n.py": "1"})
    _deployed(flow, s1)
    bad = _deployed(flow, repo.commit({"n.py": "2"}))
    unreviewed = repo.commit({"n.py": "evil"})
    failed = flow.push(repo.commit({"n.py": "broken"}), env="prod", trigger="manual")
    flow.drain()
    decide(ledger, flow.queue, flow.config, failed.id, approve=False, actor="bob@contoso.example")
    before = len(flow.of("prod"))
    for sha in (unreviewed, flow.get(failed.id).commit):
        with pytest.raises(BadRequest) as err:
            request_rollback(ledger, flow.queue, flow.config, bad, actor="carol@contoso.example", to=sha)
        assert err.value.code == "not_deployed_here"
    assert len(flow.of("prod")) == before  # refused before anything was recorded
    rb = request_rollback(ledger, flow.queue, flow.config, bad, actor="carol@contoso.example", to=s1[:8])
    assert rb.commit == s1


def test_an_emergency_rollback_needs_a_reason_and_a_role_and_is_recorded_and_notified(
        repo, storage, ledger, deployer):
    flow = _prod_flow(repo, storage, ledger, deployer, emergency_roles=["Release.Emergency"])
    s1 = repo.commit({"n.py": "1"})
    _deployed(flow, s1)
    bad = _deployed(flow, repo.commit({"n.py": "2"}))
    ledger.clock.set(SATURDAY)  # type: ignore[attr-defined]
    oncall = Principal("carol@contoso.example", True, "app_service", roles=("Release.Emergency",))
    with pytest.raises(BadRequest):
        request_rollback(ledger, flow.queue, flow.config, bad, actor=oncall, emergency=True)
    with pytest.raises(Forbidden):
        request_rollback(ledger, flow.queue, flow.config, bad, actor="dana@contoso.example", emergency=True,
                         reason="outage")
    rb = request_rollback(ledger, flow.queue, flow.config, bad, actor=oncall, emergency=True,
                          reason="orders are being dropped",
                          notifier=Notifier(flow.config, flow.settings, ledger.clock, ledger))
    flow.drain()
    assert flow.get(rb.id).status == "succeeded" and deployer.applied[-1] == ("prod", s1)
    kinds = {(a.kind, a.data.get("event")) for a in ledger.iter_activity("prod")}
    assert ("emergency", None) in kinds and ("notification", "emergency") in kinds
    assert flow.get(rb.id).extra["emergency"] == {"by": "carol@contoso.example",
                                                  "reason": "orders are being dropped"}


def test_a_manual_deploy_honours_requires_unless_forced_with_a_reason(
        repo, storage, azurite, tmp_path, monkeypatch, capsys, deployer):
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    for name, value in storage.names.app_settings().items():
        monkeypatch.setenv(name, value)
    target = {"databricks": {"host": "http://127.0.0.1:9", "target_dir": "/Shared/x/data-platform"}}
    raw = {"repository": {"provider": "local", "url": str(repo.path)}, "people": PEOPLE,
           "security": {"local_identities": True},
           "environments": {"dev": {"deploy_on": ["push"], **target},
                            "test": {"deploy_on": ["promotion"], "requires": ["dev"], **target},
                            "prod": {"deploy_on": ["promotion"], "requires": ["test"], **target}}}
    cfg = tmp_path / "environments.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    sha = repo.commit({"n.py": "never ran in test"})
    assert main(components=deployer.registry(), argv=["--config", str(cfg), "deploy", "--env", "prod", "--component", "notebooks", "--json"]) == 1
    (rec,) = json.loads(capsys.readouterr().out)
    assert rec["status"] == "rejected" and "has not succeeded in test" in rec["error"]
    assert deployer.applied == []
    assert main(components=deployer.registry(), argv=["--config", str(cfg), "deploy", "--env", "prod", "--component", "notebooks", "--force",
                 "--reason", "hotfix for incident 42", "--json"]) == 0
    (rec,) = json.loads(capsys.readouterr().out)
    assert rec["status"] == "succeeded" and rec["forced"] and deployer.applied == [("prod", sha)]
    from shared.audit import AuditLedger

    (override,) = AuditLedger(storage).list_activity("prod", kind="requires_override").items
    assert override.data == {"missing": ["test"], "reason": "hotfix for incident 42"}
