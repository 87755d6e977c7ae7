"""Issue 23 (left out there): ``dataops env stop|start`` shows each resource as it is handled, in the order
it happened and with its time, as ``deploy`` does; ``--json`` is unchanged and ``-v`` logs each resource."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from devhost.standins.databricks import DatabricksStandIn
from shared import progress
from shared.audit import AuditLedger
from shared.cli._toggle_progress import resource_line
from shared.config import Environment, Schedule
from shared.schedules.control import Handled
from shared.storage import StorageAccount
from tests.cli.helpers import at_terminal, dataops
from tests.fixtures.arm import ArmStandInHandle
from tests.schedules.conftest import MakeControl
from tests.schedules.test_cli import cli_settings
from tests.schedules.test_http import PIPELINE, trigger_body

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
LINE = re.compile(rf"^  ({STAMP})  (stop|start)\s+(\S+)\s+(\S+)  (succeeded|failed)", re.M)


def test_each_resource_is_announced_while_the_stop_runs_with_its_retries(
        databricks_standin: DatabricksStandIn, make_control: MakeControl, ledger: AuditLedger) -> None:
    dbx = databricks_standin
    for name in ("etl", "analyst"):
        dbx.add_cluster(name)
    dbx.add_warehouse("bi")
    dbx.add_job("nightly-load")
    wid = next(w["id"] for w in dbx.compute.list_warehouses() if w["name"] == "bi")
    dbx.faults.add("warehouses", fail_when=lambda r: wid in r.path and r.method == "POST", fail_status=400,
                   max_faults=1)  # bi refused once (not retried by the SDK), then stops on our retry
    env = Environment(databricks=dbx.target(), schedule=Schedule(resources=["clusters", "warehouses", "jobs"]))
    control = make_control(env, dbx.settings(), attempts=3)
    seen: list[tuple[str, Any, str | None]] = []

    def listener(event: str, payload: Any) -> None:
        # While a resource is reported, the stop's record is still the one written ahead (in progress):
        # the line comes as it happens, not from the result at the end.
        stop = next(a for a in ledger.list_activity("dev", kind="environment_stop", limit=1).items)
        seen.append((event, payload, stop.status))

    with progress.watching(listener):
        result = control.run("stop", actor="carol")
    assert result.status == "succeeded"
    assert seen[0][0] == "toggle" and seen[0][1].count == 4 and seen[0][1].action == "stop"
    handled = [(p, status) for e, p, status in seen if e == "resource"]
    assert all(isinstance(p, Handled) and status == "in_progress" for p, status in handled)
    assert sorted((p.outcome.name, p.outcome.status, p.outcome.attempts) for p, _ in handled) == [
        ("analyst", "succeeded", 1), ("bi", "failed", 1), ("bi", "succeeded", 2), ("etl", "succeeded", 1),
        ("nightly-load", "succeeded", 1)]
    retry = next(p for p, _ in handled if p.outcome.status == "failed")
    assert retry.retrying and re.match(rf"^  {STAMP}  stop      warehouses   bi  failed \(attempt 1 of 3, "
                                       r"retrying\): ", resource_line(retry))
    # What was announced is what was recorded (the record's outcomes are the last attempt of each).
    final = {(p.outcome.name, p.outcome.attempts) for p, _ in handled if not p.retrying}
    assert final == {(o.name, o.attempts) for o in result.outcomes}
    assert ledger.get_activity(result.activity_id or "").status == "succeeded"


def _cli_env(arm: ArmStandInHandle, f: str, dbx: DatabricksStandIn, storage: StorageAccount,
             tmp_path: Path) -> dict[str, str]:
    arm.create_factory(f)
    arm.put_object(f, "pipelines", "load", PIPELINE)
    for name in ("daily", "hourly"):
        arm.put_object(f, "triggers", name, trigger_body(), runtime_state="Started")
    arm.put_object(f, "triggers", "off", trigger_body(), runtime_state="Stopped")
    dbx.add_cluster("etl")
    dbx.add_warehouse("bi")
    dbx.add_job("nightly-load")
    return {**cli_settings(arm, f, dbx, storage, tmp_path), "AZURE_CORE_ONLY_SHOW_ERRORS": "1"}

RESOURCES = ["bi", "daily", "etl", "hourly", "nightly-load"]


def test_env_stop_and_start_show_each_resource_in_order_json_unchanged(
        arm_standin: ArmStandInHandle, arm_factory_name: str, databricks_standin: DatabricksStandIn,
        storage: StorageAccount, tmp_path: Path) -> None:
    env = _cli_env(arm_standin, arm_factory_name, databricks_standin, storage, tmp_path)
    # Not at a terminal: nothing while it runs, then every resource in the order it was handled, then the table.
    run = dataops(["env", "stop", "dev", "--actor", "carol"], env)
    assert run.code == 0, run.err
    out = run.out
    assert out.index("resources (in the order they were handled, UTC):") < out.index("stop dev: succeeded") \
        < out.index("TYPE")
    lines = LINE.findall(out)
    assert sorted(name for _, _, _, name, _ in lines) == RESOURCES
    assert [s for s, *_ in lines] == sorted(s for s, *_ in lines)
    assert {t for _, _, t, _, _ in lines} == {"adf_triggers", "clusters", "warehouses", "jobs"}
    assert "stopping" not in out and not LINE.search(run.err)  # no live lines and nothing on stderr

    # --json: the result only, the same structure as before (no progress, no times added to the outcomes).
    run = dataops(["env", "start", "dev", "--actor", "carol", "--json"], env)
    assert run.code == 0, run.err
    body = json.loads(run.out)
    assert set(body) >= {"environment", "action", "dry_run", "status", "plan", "outcomes", "counts"}
    assert sorted(o["name"] for o in body["outcomes"]) == RESOURCES
    assert all(set(o) == {"action", "type", "id", "name", "status", "attempts"} for o in body["outcomes"])
    assert not LINE.search(run.err)

    # -v: the product's log has a line per resource (stderr); stdout as without -v.
    run = dataops(["env", "stop", "dev", "--actor", "carol", "-v"], env)
    assert run.code == 0, run.err
    logged = re.findall(r"^INFO shared\.schedules\.control: dev: stop (\S+) (\S+): succeeded", run.err, re.M)
    assert sorted(name for _, name in logged) == RESOURCES
    assert len(LINE.findall(run.out)) == 5

    # At a terminal: the count first, then each line as it happens (not repeated at the end).
    code, screen = at_terminal(["env", "start", "dev", "--actor", "carol"], env, stdout_too=True)
    assert code == 0, screen
    assert screen.index("starting 5 resources of dev:") < screen.index("start dev: succeeded")
    live = LINE.findall(screen)
    assert sorted(name for *_, name, _ in live) == RESOURCES and all(a == "start" for _, a, *_ in live)
    assert "in the order they were handled" not in screen
