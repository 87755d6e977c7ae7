"""Issue 23 item 1: a storage account the app never initialised (or a wrong DATAOPS_STORAGE_PREFIX).

Every command says in one line what is missing and how to fix it (exit 3, no traceback); ``audit show``
and ``approve`` do not pretend the id is wrong; ``dataops storage init`` provisions explicitly.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared.audit.keys import deployment_id

from .helpers import dataops

SOME_ID = deployment_id("dev", "notebooks", datetime(2026, 1, 5, 10, tzinfo=UTC), "seed")

COMMANDS = [
    ["audit", "list"],
    ["audit", "show", SOME_ID],
    ["approve", SOME_ID, "--actor", "bob"],
    ["metrics", "dora", "--env", "dev"],
    ["env", "status", "dev"],
    ["incident", "open", "--env", "dev", "--title", "broken"],
    ["deploy", "--env", "dev", "--actor", "ada"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_every_command_on_an_unprovisioned_account_says_what_is_missing(args, cli_env, unique_prefix):
    run = dataops(args, cli_env)
    assert run.code == 3, (run.out, run.err)
    assert "Traceback" not in run.err and "unknown_deployment" not in run.err
    assert run.err.count("\n") == 1, run.err  # one line
    assert "storage_not_initialized" in run.err and "dataops storage init" in run.err
    assert f"prefix {unique_prefix!r}" in run.err and "DATAOPS_STORAGE_PREFIX" in run.err


def test_storage_init_provisions_tables_queues_containers_with_the_prefix(cli_env, unique_prefix, azurite):
    run = dataops(["storage", "init", "-o", "json"], cli_env)
    assert run.code == 0, run.err
    body = json.loads(run.out)
    assert body["prefix"] == unique_prefix
    kinds = {r["kind"] for r in body["resources"]}
    assert kinds == {"table", "queue", "container"}
    assert all(r["name"].startswith(unique_prefix) and r["state"] == "created" for r in body["resources"])
    from azure.data.tables import TableServiceClient

    tables = {t.name for t in TableServiceClient.from_connection_string(azurite.connection_string).list_tables()}
    assert {r["name"] for r in body["resources"] if r["kind"] == "table"} <= tables

    again = dataops(["storage", "init"], cli_env)  # idempotent, and says so
    assert again.code == 0 and "0 created" in again.out and "created" not in again.out.split("\n")[1]
    listed = dataops(["audit", "list", "--json"], cli_env)
    assert listed.code == 0 and json.loads(listed.out)["items"] == []
    shown = dataops(["audit", "show", SOME_ID], cli_env)  # now the id really is unknown
    assert shown.code == 2 and "unknown_deployment" in shown.err
