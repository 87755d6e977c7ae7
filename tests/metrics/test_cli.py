"""``dataops audit|metrics|incident`` against Azurite, through the CLI's own entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from devhost.azurite import Azurite
from shared.audit import AuditLedger
from shared.cli import main
from shared.clock import FakeClock
from shared.settings import StorageNames

from .history import ENV, write_history


@pytest.fixture
def cli_env(azurite: Azurite, unique_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "environments.yaml"
    config.write_text(yaml.safe_dump({
        "repository": {"provider": "local", "url": "https://example.invalid/platform"},
        "environments": {"dev": {"deploy_on": ["push"]}, "prod": {"deploy_on": ["promotion"], "requires": ["dev"]}},
    }))
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    for name, value in StorageNames(unique_prefix).app_settings().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATAOPS_CONFIG", str(config))
    return config


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_audit_list_and_show(cli_env: Path, ledger: AuditLedger, clock: FakeClock,
                             capsys: pytest.CaptureFixture[str]) -> None:
    ids = write_history(ledger, clock)
    code, out, _ = run(capsys, "audit", "list", "--env", ENV, "--status", "failed", "--json")
    assert code == 0 and [i["id"] for i in json.loads(out)["items"]] == [ids["D2"]]
    code, out, _ = run(capsys, "audit", "list", "--env", ENV, "--limit", "3")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:3] == ["ID", "ENV", "COMPONENT"]
    assert ids["D9"] in lines[1] and lines[-1].startswith("more: --continuation ")
    code, out, _ = run(capsys, "audit", "list", "--env", ENV, "--with-activity", "--limit", "100", "--json")
    assert code == 0 and json.loads(out)["count"] == 13
    code, out, _ = run(capsys, "audit", "show", ids["D3"])
    assert code == 0 and "status history" in out and "succeeded" in out and "bob" in out
    code, out, _ = run(capsys, "audit", "show", ids["D3"], "--json")
    assert json.loads(out)["status_history"][-1]["status"] == "succeeded"


def test_bad_audit_arguments_exit_2_with_a_message(cli_env: Path, storage: object,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    # (storage: the account is provisioned, so an unknown id is "not found", not "storage not initialised")
    code, _, err = run(capsys, "audit", "list", "--since", "last tuesday")
    assert code == 2 and "since" in err and "ISO 8601" in err
    code, _, err = run(capsys, "audit", "list", "--env", "staging")
    assert code == 2 and "unknown environment 'staging'" in err
    code, _, err = run(capsys, "audit", "show", "20260101T000000000Z-prod-adf-00000000")
    assert code == 2 and "not found" in err


def test_metrics_dora(cli_env: Path, ledger: AuditLedger, clock: FakeClock,
                      capsys: pytest.CaptureFixture[str]) -> None:
    write_history(ledger, clock)
    code, out, _ = run(capsys, "metrics", "dora", "--env", ENV, "--days", "3650", "--by", "developer", "--json")
    body = json.loads(out)
    # D0..D9 without the superseded D8; every commit counted once (c0 by D0 now).
    assert code == 0 and body["deployments"] == 9 and body["lead_time"]["commits"] == 8
    assert sorted(body["by_developer"]) == ["alice", "bob", "carol"]
    code, out, _ = run(capsys, "metrics", "dora", "--days", "3650")
    assert code == 0 and "change failure rate" in out and "DORA 2024" in out and "dora definitions" in out
    code, out, _ = run(capsys, "metrics", "dora", "--days", "3650", "--definitions", "fourkeys", "--benchmark", "2023")
    assert code == 0 and "fourkeys definitions, DORA 2023 tiers" in out and "fourkeys, DORA 2023" in out
    code, _, err = run(capsys, "metrics", "dora", "--days", "0")
    assert code == 2 and "days" in err


def test_incident_open_dry_run_then_open_and_resolve(cli_env: Path, ledger: AuditLedger,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "incident", "open", "--env", ENV, "--title", "late", "--dry-run", "--json")
    assert code == 0 and json.loads(out)["dry_run"] is True
    assert list(ledger.iter_activity(ENV)) == []
    code, out, _ = run(capsys, "incident", "open", "--env", ENV, "--title", "late", "--kind", "data_quality",
                       "--json")
    opened = json.loads(out)
    assert code == 0 and opened["created"] and opened["cause"]["kind"] == "none"
    code, out, _ = run(capsys, "incident", "resolve", opened["id"], "--note", "reloaded")
    assert code == 0 and out.startswith("resolved data_quality")
    assert ledger.get_activity(opened["id"]).status == "resolved"
    code, _, err = run(capsys, "incident", "resolve", "prod~nope")
    assert code == 2 and "not found" in err


def _local_identities(config: Path, on: bool) -> None:
    data = yaml.safe_load(config.read_text())
    data["security"] = {"local_identities": on}
    config.write_text(yaml.safe_dump(data))


def test_incident_actor_is_refused_without_local_identities(cli_env: Path, ledger: AuditLedger,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    # A self-asserted name must not land in the audit (and the restore time) as who reported or resolved it.
    code, _, err = run(capsys, "incident", "open", "--env", ENV, "--title", "late", "--actor", "mallory")
    assert code == 2 and "local_identities" in err
    assert list(ledger.iter_activity(ENV)) == []
    code, out, err = run(capsys, "incident", "open", "--env", ENV, "--title", "late", "--json")
    opened = json.loads(out)
    assert code == 0, err
    # No Azure sign-in here: the os user, marked unverified, as `deploy` and `env stop` record it.
    assert opened["actor"].startswith("cli:") and opened["actor_verified"] is False
    assert opened["actor_source"] == "cli_unverified"
    code, _, err = run(capsys, "incident", "resolve", opened["id"], "--actor", "mallory")
    assert code == 2 and "local_identities" in err
    assert ledger.get_activity(opened["id"]).status == "open"
    code, out, err = run(capsys, "incident", "resolve", opened["id"], "--json")
    done = json.loads(out)
    assert code == 0, err
    assert done["resolved_by"].startswith("cli:") and done["resolved_by_verified"] is False
    assert done["resolved_by_source"] == "cli_unverified"
    stored = ledger.get_activity(opened["id"])
    assert stored.status == "resolved" and stored.data["resolved_by_source"] == "cli_unverified"


def test_incident_actor_names_a_local_identity_where_allowed(cli_env: Path, ledger: AuditLedger,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    _local_identities(cli_env, True)
    code, out, err = run(capsys, "incident", "open", "--env", ENV, "--title", "late", "--actor", "carol", "--json")
    opened = json.loads(out)
    assert code == 0, err
    assert (opened["actor"], opened["actor_verified"], opened["actor_source"]) == ("carol", True, "local")
    code, out, err = run(capsys, "incident", "resolve", opened["id"], "--actor", "dan", "--json")
    done = json.loads(out)
    assert code == 0, err
    assert (done["resolved_by"], done["resolved_by_verified"], done["resolved_by_source"]) == ("dan", True, "local")
    assert (done["actor"], done["actor_source"]) == ("carol", "local")  # the opener stays
    listed = json.loads(run(capsys, "incident", "list", "--env", ENV, "--json")[1])["items"]
    assert [(i["actor"], i["actor_source"], i["resolved_by"]) for i in listed] == [("carol", "local", "dan")]
