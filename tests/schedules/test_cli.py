"""``dataops env`` and ``dataops triggers`` run as a real process against the stand-ins and Azurite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from devhost.standins.databricks import DatabricksStandIn
from shared.storage import StorageAccount
from tests.fixtures.arm import ArmStandInHandle
from tests.schedules.test_http import PIPELINE, trigger_body

ROOT = Path(__file__).resolve().parents[2]


def run_cli(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    proc = subprocess.run([sys.executable, "-m", "shared.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def cli_settings(arm: ArmStandInHandle, f: str, dbx: DatabricksStandIn, storage: StorageAccount,
                 tmp_path: Path) -> dict[str, str]:
    """The app settings of a CLI run against the stand-ins, with a configuration of environment dev."""
    config: dict[str, Any] = {
        "repository": {"url": "https://github.com/contoso/data-platform"},
        "security": {"local_identities": True},  # --actor names someone only where local identities are allowed
        "environments": {"dev": {
            "data_factory": arm.target(f).model_dump(exclude_defaults=True),
            "databricks": dbx.target().model_dump(exclude_defaults=True),
            "schedule": {"time_zone": "Europe/London", "stop": "0 0 19 * * 1-5"}}}}
    path = tmp_path / "environments.yaml"
    path.write_text(yaml.safe_dump(config))
    return {**arm.settings().environ, **dbx.settings().environ, "AzureWebJobsStorage": str(storage.connection_string),
            **storage.names.app_settings(), "DATAOPS_CONFIG": str(path)}


def test_env_and_triggers_commands(arm_standin: ArmStandInHandle, arm_factory_name: str,
                                   databricks_standin: DatabricksStandIn, storage: StorageAccount,
                                   tmp_path: Path) -> None:
    arm, dbx, f = arm_standin, databricks_standin, arm_factory_name
    arm.create_factory(f)
    arm.put_object(f, "pipelines", "load", PIPELINE)
    arm.put_object(f, "triggers", "daily", trigger_body(), runtime_state="Started")
    arm.put_object(f, "triggers", "off", trigger_body(), runtime_state="Stopped")
    dbx.add_warehouse("bi")
    env = {**os.environ, **cli_settings(arm, f, dbx, storage, tmp_path)}

    code, out, err = run_cli(["triggers", "list", "dev", "--json"], env)
    assert code == 0, err
    assert {t["name"]: t["state"] for t in json.loads(out)} == {"daily": "Started", "off": "Stopped"}

    code, out, err = run_cli(["env", "stop", "dev", "--dry-run", "--json"], env)
    assert code == 0, err
    assert sorted(c["name"] for c in json.loads(out)["plan"]["changes"]) == ["bi", "daily"]
    assert arm.trigger_state(f, "daily") == "Started"

    code, out, err = run_cli(["env", "stop", "dev", "--actor", "carol", "--reason", "weekend"], env)
    assert code == 0, err
    assert "stop dev: succeeded" in out and arm.trigger_state(f, "daily") == "Stopped"

    code, out, err = run_cli(["env", "status", "dev", "--json"], env)
    assert code == 0, err
    assert json.loads(out)["stopped"]["actor"] == "carol"

    code, out, err = run_cli(["triggers", "start", "dev", "daily", "--json"], env)
    assert code == 0, err
    assert json.loads(out)[0]["status"] == "succeeded" and arm.trigger_state(f, "daily") == "Started"

    code, out, err = run_cli(["triggers", "stop", "dev", "ghost"], env)
    assert code == 2 and "unknown_trigger" in err and "ghost" in err
    code, out, err = run_cli(["env", "status", "nope"], env)
    assert code == 2 and "unknown environment 'nope'" in err
