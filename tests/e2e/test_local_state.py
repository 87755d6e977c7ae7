"""What `make run` keeps between runs and writes for the user (no whole stack started here).

Azurite with a location keeps its tables across a restart; ``--fresh`` (or half a state) starts
over; ``.local/local.env`` exports what the CLI and a user's own signed ``curl`` need, readable by
the owner only.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from devhost.azurite import start_azurite
from devhost.localstack import LOCAL_ENV, Ports, Stack, keep_history, write_local_env


def test_azurite_keeps_its_data_in_its_location_across_a_restart(tmp_path: Path) -> None:
    from azure.data.tables import TableServiceClient

    location = tmp_path / "azurite"
    first = start_azurite(location=location)
    try:
        table = TableServiceClient.from_connection_string(first.connection_string).create_table("history")
        table.create_entity({"PartitionKey": "p", "RowKey": "r", "status": "succeeded"})
    finally:
        first.stop()
    assert location.is_dir()  # stop() leaves a caller's location alone
    second = start_azurite(location=location)
    try:
        service = TableServiceClient.from_connection_string(second.connection_string)
        assert service.get_table_client("history").get_entity("p", "r")["status"] == "succeeded"
    finally:
        second.stop()


def test_history_is_kept_unless_fresh_or_half_there(tmp_path: Path) -> None:
    def last_run() -> None:
        (tmp_path / "azurite").mkdir(exist_ok=True)
        (tmp_path / "sample-repo" / ".git").mkdir(parents=True, exist_ok=True)
        (tmp_path / "traces.jsonl").write_text("{}\n")

    last_run()
    assert keep_history(tmp_path, fresh=False) is True
    assert (tmp_path / "azurite").is_dir() and (tmp_path / "traces.jsonl").exists()
    assert keep_history(tmp_path, fresh=True) is False
    assert not [p.name for p in tmp_path.iterdir()]
    last_run()
    (tmp_path / "sample-repo" / ".git").rmdir()  # storage whose commits are gone cannot be continued
    assert keep_history(tmp_path, fresh=False) is False
    assert not (tmp_path / "azurite").exists()


def test_local_env_holds_what_the_cli_and_curl_need(tmp_path: Path) -> None:
    stack = Stack(tmp_path, Ports.from_base(24000))
    stack.env = {"AzureWebJobsStorage": "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=k==;",
                 "DATAOPS_CONFIG": "infra/environments.local.yaml", "DATAOPS_DEPLOY_QUEUE": "dataops-deployments",
                 "GITHUB_WEBHOOK_SECRET": "gh'secret", "GITLAB_WEBHOOK_TOKEN": "gl-token",
                 "AZDO_WEBHOOK_USER": "dataops-local", "AZDO_WEBHOOK_PASSWORD": "azdo pass",
                 "DATAOPS_LOCAL_PRINCIPAL": "dev@contoso.example", "LOCAL_ARM_TOKEN": "arm",
                 "LOCAL_DATABRICKS_TOKEN": "dapi00", "REQUESTS_CA_BUNDLE": str(tmp_path / "ca.pem"),
                 "DATAOPS_TRACE_FILE": str(tmp_path / "traces.jsonl"), "PATH": os.environ["PATH"]}
    stack.key = "k" * 54 + "=="  # the app's default host key, read from its storage when the host is up
    path = write_local_env(stack)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    out = subprocess.run(["bash", "-c", f"set -e; source {path}; env -0"], capture_output=True, text=True,
                         env={"PATH": os.environ["PATH"]}, check=True).stdout
    got = dict(line.split("=", 1) for line in out.split("\0") if "=" in line)
    assert set(LOCAL_ENV) <= set(got)
    assert got["DATAOPS_API"] == "http://127.0.0.1:24000/api"
    assert got["DATAOPS_FUNCTION_KEY"] == stack.key  # curl -H "x-functions-key: $DATAOPS_FUNCTION_KEY"
    for key in ("AzureWebJobsStorage", "GITHUB_WEBHOOK_SECRET", "AZDO_WEBHOOK_PASSWORD", "DATAOPS_LOCAL_PRINCIPAL"):
        assert got[key] == stack.env[key], key  # quoting survives the shell
    assert "PATH=" not in path.read_text()  # only what it is for
    assert Ports.from_base(24000).all() == (24000, 24001, 24002, 24003, 24004, 24005)
    assert Ports().all() == (7071, 7081, 7443)  # make run's defaults (Azurite on free ports)
