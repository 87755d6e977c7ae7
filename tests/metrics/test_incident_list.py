"""``GET /api/incidents`` and ``dataops incident list`` (the installed console script, as a process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.app import AppContext
from shared.audit import AuditLedger
from shared.clock import FakeClock
from shared.metrics.incidents import IncidentBook

from .conftest import Client
from .history import deploy, sha, write_history
from .test_cli import cli_env  # noqa: F401  (the fixture)

DATAOPS = Path(sys.executable).parent / "dataops"


@pytest.fixture
def ids(app_ctx: AppContext) -> dict[str, str]:
    return write_history(app_ctx.ledger, app_ctx.clock)  # type: ignore[arg-type]


def _ids(body: dict[str, Any]) -> list[str]:
    return [i["id"] for i in body["items"]]


@pytest.mark.parametrize(("query", "expected"), [
    ("", ["Q1", "I2", "I1"]),  # newest first by opening: Feb 7, Feb 6, Feb 3
    ("environment=prod&state=open", ["I2"]),
    ("state=resolved", ["Q1", "I1"]),
    ("kind=data_quality", ["Q1"]),
    ("kind=incident&state=resolved", ["I1"]),
    ("since=2026-02-04T00:00:00Z&until=2026-02-06T23:00:00Z", ["I2"]),
    ("environment=dev", []),
])
def test_list_incidents_with_filters(client: Client, ids: dict[str, str], query: str, expected: list[str]) -> None:
    status, body = client.call("GET", f"incidents?{query}")
    assert status == 200, body
    assert _ids(body) == [ids[e] for e in expected] and body["count"] == len(expected)
    assert body["continuation"] is None


def test_list_incidents_pages_over_environments(client: Client, app_ctx: AppContext, ids: dict[str, str]) -> None:
    # One more in dev, opened between I1 (Feb 3) and I2 (Feb 6).
    dev, _ = IncidentBook(app_ctx.ledger, app_ctx.clock).open("dev", "incident", "dev down",
                                                               opened_at=app_ctx.clock.now().replace(month=2, day=4))
    seen: list[str] = []
    token = ""
    while True:
        status, body = client.call("GET", "incidents?limit=1" + (f"&continuation={token}" if token else ""))
        assert status == 200 and body["count"] == 1, body
        seen += _ids(body)
        token = body["continuation"]
        if not token:
            break
    assert seen == [ids["Q1"], ids["I2"], dev.id, ids["I1"]]
    first = client.call("GET", "incidents?environment=prod&state=resolved&limit=1")[1]
    assert _ids(first) == [ids["Q1"]] and first["items"][0]["resolved_at"] and first["items"][0]["cause"]
    status, rest = client.call("GET", f"incidents?environment=prod&state=resolved&limit=1&continuation="
                                      f"{first['continuation']}")
    assert _ids(rest) == [ids["I1"]] and rest["continuation"] is None


@pytest.mark.parametrize(("query", "code"), [
    ("state=closed", "invalid_state"), ("kind=outage", "invalid_kind"), ("status=open", "unknown_parameter"),
    ("environment=nope", "unknown_environment"), ("limit=0", "invalid_limit"), ("since=soon", "invalid_time"),
    ("continuation=@@@", "invalid_continuation"),
])
def test_bad_incident_queries_are_400(client: Client, app_ctx: AppContext, query: str, code: str) -> None:
    status, body = client.call("GET", f"incidents?{query}")
    assert status == 400 and body["error"] == code and body["message"]


def _cli(*argv: str) -> tuple[int, str, str]:
    proc = subprocess.run([str(DATAOPS), *argv], env=dict(os.environ), capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.usefixtures("cli_env")
def test_incident_list_and_metrics_from_the_console_script(ledger: AuditLedger, clock: FakeClock) -> None:
    ids = write_history(ledger, clock)
    code, out, err = _cli("incident", "list", "--env", "prod", "--json")
    assert code == 0, err
    body = json.loads(out)
    assert _ids(body) == [ids["Q1"], ids["I2"], ids["I1"]] and body["continuation"] is None
    code, out, err = _cli("incident", "list", "--state", "open")
    lines = [line for line in out.splitlines() if line.strip()]
    assert code == 0 and all(h in lines[0].upper() for h in ("KIND", "STATE", "OPENED", "DEPLOYMENT", "TITLE"))
    assert len(lines) == 2 and ids["I2"] in lines[1] and "dashboards stale" in lines[1]  # the header, one row
    code, out, err = _cli("incident", "list", "--kind", "data_quality", "--limit", "1", "--json")
    assert code == 0 and _ids(json.loads(out)) == [ids["Q1"]]
    code, _, err = _cli("incident", "list", "--since", "last tuesday")
    assert code == 2 and "since" in err
    # The CLI reads the real clock: one deployment of dev an hour ago, its commit 30 minutes before it ended.
    ended = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    deploy(ledger, clock, env="dev", created=ended - timedelta(minutes=10), ended=ended, status="succeeded",
           actor="merger", commits=[(sha(1), ended - timedelta(minutes=30))])
    code, out, err = _cli("metrics", "dora", "--env", "dev", "--days", "1", "--by", "pusher",
                          "--definitions", "fourkeys", "--benchmark", "2023", "--json")
    assert code == 0, err
    dora = json.loads(out)
    assert (dora["definitions"], dora["benchmark"], dora["group_by"]) == ("fourkeys", "DORA 2023", "pusher")
    assert dora["lead_time"] == {"commits": 1, "median_seconds": 1800.0, "p90_seconds": 1800.0, "tier": "elite",
                                 "definition": "fourkeys", "benchmark": "DORA 2023"}
    assert list(dora["by_developer"]) == ["merger"]
    code, out, err = _cli("metrics", "dora", "--env", "dev", "--days", "1")
    assert code == 0 and "fourkeys" not in out and "dora, DORA 2024" in out and "lead time" in out
