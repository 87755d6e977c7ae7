"""Seeing branch workspaces: GET /api/branches, the CLI, audit by branch; DORA leaves them out; the notification."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from shared.cli import main
from shared.metrics.report import dora_report
from tests.release.test_notify import Receiver

from .conftest import NB, USERS, ZERO, World, raw_config


def _synced(w: World, branch: str = "feature/report", source: str = "github") -> str:
    sha = w.repo.commit({"notebooks/report.py": NB + f"print({branch!r})\n"}, "report", branch=branch)
    status, answer = w.push(source, branch, ZERO, sha)
    assert status == 202, answer
    w.drain()
    return sha


def test_get_api_branches_lists_folder_owner_last_sync_and_age(world: World) -> None:
    w = world
    sha = _synced(w)
    w.clock.advance(hours=5)
    status, body = w.get("branches")
    assert status == 200 and body["count"] == 1 and body["configured"] is True
    (item,) = body["items"]
    assert item["branch"] == "feature/report" and item["state"] == "active"
    assert item["folder"] == f"/Users/{USERS['github']}/branches/feature-report"
    assert item["owner"] == USERS["github"] and item["age_seconds"] == 5 * 3600
    assert item["last_sync"]["status"] == "succeeded" and item["last_sync"]["commit"] == sha
    assert item["expires_at"] > item["last_push_at"]
    assert w.get("branches?state=removed")[1]["count"] == 0
    assert w.get("branches?branch=feature/other")[1]["count"] == 0
    status, err = w.get("branches?color=blue")
    assert status == 400 and err["error"] == "unknown_parameter"
    assert w.get("branches?state=gone")[0] == 400


def test_audit_by_branch_over_http_and_the_cli(world: World, tmp_path: Path, capsys: Any) -> None:
    w = world
    _synced(w)
    _synced(w, "feature/other", "gitlab")
    status, body = w.get("deployments?component=notebooks&branch=feature/report")
    assert status == 200 and [i["extra"]["branch"] for i in body["items"]] == ["feature/report"]
    assert body["items"][0]["trigger"] == "branch"
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(raw_config(w.repo, w.standin)))
    assert main(["--config", str(cfg), "audit", "list", "--component", "notebooks", "--branch", "feature/other",
                 "--json"]) == 0
    out = capsys.readouterr().out
    assert '"feature/other"' in out and '"feature/report"' not in out
    assert main(["--config", str(cfg), "branches", "list"]) == 0
    table = capsys.readouterr().out
    assert "feature/report" in table and "feature/other" in table and USERS["gitlab"] in table


def test_branch_syncs_are_left_out_of_dora_unless_asked(world: World) -> None:
    w = world
    _synced(w)
    now = w.clock.now()
    assert dora_report(w.ctx.ledger, "dev", now, 30, use_rollup=False).keys["deployments"] == 0
    counted = dora_report(w.ctx.ledger, "dev", now, 30, use_rollup=False, include_branch_syncs=True)
    assert counted.keys["deployments"] == 1


def test_the_pusher_is_told_the_folder_url_once(world: World) -> None:
    w = world
    receiver = Receiver()
    try:
        w.configure(env={"notify": [{"kind": "webhook", "url_setting": "HOOK_URL", "on": ["failed"]}]},
                    settings={"HOOK_URL": receiver.url}, notify=True)
        sha = _synced(w)
        assert len(receiver.bodies) == 1
        body = receiver.bodies[0]
        folder = f"/Users/{USERS['github']}/branches/feature-report"
        oid = w.standin.object(folder).object_id
        assert body["event"] == "branch_workspace"
        assert folder in body["reason"] and f"{w.standin.url}/browse/folders/{oid}" in body["reason"]
        assert USERS["github"] in body["reason"]
        again = w.repo.commit({"notebooks/report.py": NB + "print(2)\n"}, "v2", branch="feature/report")
        w.push("github", "feature/report", sha, again)
        w.drain()
        assert len(receiver.bodies) == 1  # only when the folder is created
    finally:
        receiver.close()
