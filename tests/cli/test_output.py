"""Issue 23 item 6: results in the order they happened with their times; audit list with queued, started
and ended (UTC with Z, or the local zone with its offset) and the duration split into wait and run."""

from __future__ import annotations

import json
import re

from shared.audit import AuditLedger, DeploymentRecord
from shared.clock import FakeClock

from .helpers import at_terminal, dataops

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def test_deploy_prints_the_plan_then_each_result_in_the_order_it_happened(cli_env, repo, storage):
    run = dataops(["deploy", "--env", "dev", "--actor", "ada"], cli_env)
    assert run.code == 0, run.err
    out = run.out
    assert out.index("notebooks -> dev at") < out.index("results of") < out.index("DEPLOYMENT")
    lines = [line for line in out.splitlines() if re.match(rf"^  {STAMP}  ", line)]
    names = [line.split()[3] for line in lines]
    assert names[0] == "/Shared/dev" and sorted(names[1:]) == ["/Shared/dev/a", "/Shared/dev/b"]  # parallel
    stamps = [line.split()[0] for line in lines]
    assert stamps == sorted(stamps)

    # The next commit adds c and removes b: c is imported before b is deleted, and so they are listed
    # (by name, the delete of b would come first).
    repo.git("rm", "-q", "notebooks/b.py")
    repo.commit({"notebooks/c.py": "# Databricks notebook source\nprint(3)\n"})
    run = dataops(["deploy", "--env", "dev", "--actor", "ada", "-o", "json"], cli_env)
    assert run.code == 0, run.err
    (rec,) = json.loads(run.out)
    show = dataops(["audit", "show", rec["id"], "--json"], cli_env)
    objects = json.loads(show.out)["objects"]
    assert [(o["action"], o["name"]) for o in objects] == [("create", "/Shared/dev/c"), ("delete", "/Shared/dev/b")]
    assert all(o["at"].endswith("Z") for o in objects) and objects[0]["at"] <= objects[1]["at"]
    table = dataops(["audit", "show", rec["id"]], cli_env).out
    assert "objects (in the order they happened)" in table
    assert table.index("/Shared/dev/c") < table.index("/Shared/dev/b")


def test_wait_is_not_run(ledger: AuditLedger, clock: FakeClock):
    """A deployment that waited an hour for approval ran for a minute, not an hour and a minute."""
    did = ledger.new_deployment_id("prod", "adf", "w")
    ledger.create_deployment(DeploymentRecord(id=did, environment="prod", component="adf", commit="a" * 40))
    clock.advance(1)
    ledger.transition(did, "planning")
    clock.advance(2)
    ledger.transition(did, "waiting_approval")
    clock.advance(3600)
    ledger.transition(did, "queued")
    clock.advance(4)
    ledger.transition(did, "planning")
    clock.advance(10)
    ledger.transition(did, "running")
    clock.advance(50)
    done = ledger.transition(did, "succeeded")
    assert done.wait_seconds == 3607 and done.duration_seconds == 60
    assert done.to_json()["wait_seconds"] == 3607


def test_audit_list_shows_queued_started_ended_wait_and_run(cli_env, ledger: AuditLedger, clock: FakeClock):
    did = ledger.new_deployment_id("dev", "adf", "x")
    ledger.create_deployment(DeploymentRecord(id=did, environment="dev", component="adf", commit="a" * 40,
                                              actor="ada"))
    clock.advance(90)
    ledger.transition(did, "planning")
    clock.advance(125)
    ledger.transition(did, "failed", error="ARM said: " + "the template is invalid because " * 10)
    run = dataops(["audit", "list", "--env", "dev"], cli_env)
    assert run.code == 0, run.err
    head, row = run.out.splitlines()[:2]
    assert head.split() == ["ID", "ENV", "COMPONENT", "COMMIT", "ACTOR", "TRIGGER", "STATUS", "QUEUED", "STARTED",
                            "ENDED", "WAIT", "RUN", "NOTE"]
    cells = row.split()
    stamps = [c for c in cells if re.fullmatch(STAMP, c)]
    assert len(stamps) == 3 and stamps == sorted(stamps)
    assert "1m30s" in cells and "2m05s" in cells  # wait 90 s, run 125 s
    assert row.rstrip().endswith("…") and len(row.split("ARM said:")[1]) <= 60

    local = dataops(["audit", "list", "--env", "dev", "--local-time"], {**cli_env, "TZ": "Asia/Kolkata"})
    assert local.code == 0 and re.search(r"T\d\d:\d\d:\d\d\+05:30", local.out) and not re.search(STAMP, local.out)


def test_at_a_terminal_deploy_shows_each_result_as_it_happens_and_a_bar_for_bulk_imports(cli_env, repo, storage):
    code, screen = at_terminal(["deploy", "--env", "dev", "--actor", "ada"], cli_env, stdout_too=True)
    assert code == 0, screen
    # the plan, then the results live, then the summary (the live lines are not printed twice)
    assert screen.index("notebooks -> dev at") < screen.index("applying 3 changes:") < screen.index("DEPLOYMENT")
    assert len(re.findall(rf"^  {STAMP}  create", screen, re.M)) == 3 and "results of" not in screen
    many = {f"notebooks/bulk/n{i:03d}.py": f"# Databricks notebook source\nprint({i})\n" for i in range(60)}
    repo.commit(many)
    code, screen = at_terminal(["deploy", "--env", "dev", "--actor", "ada"], cli_env, stdout_too=True)
    assert code == 0, screen
    assert "applying 61 changes:" in screen and "] 61/61" in screen and "#" * 30 in screen
    assert len(re.findall(rf"^  {STAMP}  create", screen, re.M)) == 0  # a bar, not 61 lines
    plain = dataops(["plan", "--env", "dev"], cli_env)  # not a terminal: no bar, no live lines
    assert "applying" not in plain.out and "[" not in plain.err
