"""Issue 23 item 3: stopping or deploying an environment with ``approval: required`` needs ``--yes`` or a
yes typed at a terminal; without a terminal and without ``--yes`` the CLI refuses (exit 2) and changes nothing."""

from __future__ import annotations

import json

from devhost.standins.databricks import DatabricksStandIn

from .helpers import at_terminal, dataops


def _warehouse(dbx: DatabricksStandIn, name: str) -> str:
    return next(w["state"] for w in dbx.compute.list_warehouses() if w["name"] == name)


def test_stop_and_deploy_of_a_protected_environment_without_a_terminal_need_yes(cli_env, databricks_standin):
    dbx = databricks_standin
    dbx.add_warehouse("bi")
    assert dataops(["storage", "init"], cli_env).code == 0

    run = dataops(["env", "stop", "prod"], cli_env)
    assert run.code == 2, (run.out, run.err)
    assert "confirmation_required" in run.err and "--yes" in run.err and "approval: required" in run.err
    assert _warehouse(dbx, "bi") == "RUNNING"
    run = dataops(["deploy", "--env", "prod", "--actor", "ada"], cli_env)
    assert run.code == 2 and "--yes" in run.err
    assert json.loads(dataops(["audit", "list", "--json"], cli_env).out)["items"] == []  # nothing recorded

    assert dataops(["env", "stop", "prod", "--dry-run"], cli_env).code == 0  # a dry run asks nothing
    assert dataops(["env", "stop", "dev", "--dry-run"], cli_env).code == 0
    run = dataops(["env", "stop", "prod", "--yes", "--actor", "carol"], cli_env)
    assert run.code == 0, run.err
    assert _warehouse(dbx, "bi") in ("STOPPING", "STOPPED")


def test_at_a_terminal_the_cli_asks(cli_env, databricks_standin):
    dbx = databricks_standin
    dbx.add_warehouse("bi")
    assert dataops(["storage", "init"], cli_env).code == 0
    code, screen = at_terminal(["env", "stop", "prod", "--actor", "carol"], cli_env, "n")
    assert code == 2 and "prod has approval: required" in screen and "not confirmed" in screen
    assert _warehouse(dbx, "bi") == "RUNNING"
    code, screen = at_terminal(["env", "stop", "prod", "--actor", "carol"], cli_env, "y")
    assert code == 0, screen
    assert _warehouse(dbx, "bi") in ("STOPPING", "STOPPED")
