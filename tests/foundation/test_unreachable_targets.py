"""A Databricks workspace or ARM endpoint that cannot be reached fails the CLI in seconds, in one line.

Two ways a target is out of reach: a port nothing listens on (connection refused at once) and a
blackhole (a TCP server that accepts connections, reads what is sent and never answers: what a hung
front end or a half-open firewall path looks like). `dataops plan` and `dataops env status` must end
with exit code 3 and one line naming the service and the host, no traceback, well within the
subprocess timeout below (the SDKs' own defaults waited 5 to 10 minutes). `env status` must not
exit 0 with an empty table.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from devhost.azurite import Azurite, free_port
from shared.storage import StorageAccount
from tests.adf.helpers import base_resources, template
from tests.deploy.helpers import LocalRepo

ROOT = Path(__file__).resolve().parents[2]
BOUND_S = 60  # the subprocess timeout: a hang fails the test (timeouts configured to 2 s below; the
# SDK defaults waited 300-600 s; the margin is for a machine shared by many test runs)


class Blackhole:
    """Accepts connections, reads everything, answers nothing (until stopped)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._drain, args=(conn,), daemon=True).start()

    @staticmethod
    def _drain(conn: socket.socket) -> None:
        try:
            while conn.recv(65536):
                pass
        except OSError:
            pass

    def stop(self) -> None:
        self._stop.set()
        for s in [self.sock, *self.conns]:
            try:
                s.close()
            except OSError:
                pass


@pytest.fixture(params=["refused", "blackhole"])
def dead_port(request: pytest.FixtureRequest) -> Iterator[int]:
    if request.param == "refused":
        yield free_port()
        return
    hole = Blackhole()
    try:
        yield hole.port
    finally:
        hole.stop()


def _setup(tmp_path: Path, port: int) -> Path:
    repo = LocalRepo(tmp_path / "repo")
    repo.commit({"notebooks/a.py": "# Databricks notebook source\nprint(1)\n"})
    repo.commit({"ARMTemplateForFactory.json": json.dumps(template(base_resources()))}, branch="adf_publish")
    cfg = tmp_path / "environments.yaml"
    cfg.write_text(yaml.safe_dump({
        "repository": {"provider": "local", "url": str(repo.path)},
        "databricks": {"source_dir": "notebooks"},
        "timeouts": {"connect": 2, "read": 2, "unreachable_retries": 1},
        "environments": {"dev": {
            "databricks": {"host": f"http://127.0.0.1:{port}", "token_setting": "DBX_TOKEN",
                           "target_dir": "/Shared/dev/app"},
            "data_factory": {"subscription_id": "11111111-1111-1111-1111-111111111111", "resource_group": "rg",
                             "factory_name": "adf-dev", "arm_endpoint": f"https://127.0.0.1:{port}",
                             "token_setting": "ARM_TOKEN", "parameters": {"ls_blob_sasToken": "x"}},
            "schedule": {"time_zone": "UTC", "stop": "0 0 19 * * *", "start": "0 0 7 * * *"}}}}))
    return cfg


def _run(cfg: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DBX_TOKEN": "dapi-x", "ARM_TOKEN": "t",
            "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run([sys.executable, "-m", "shared.cli", "--config", str(cfg), *args], cwd=ROOT,
                          env={**base, **(env or {})}, capture_output=True, text=True, timeout=BOUND_S)


def _one_line_naming(out: subprocess.CompletedProcess[str], service: str, port: int) -> None:
    assert out.returncode == 3, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    assert service in lines[0] and f"127.0.0.1:{port}" in lines[0], lines[0]
    assert "dapi-x" not in out.stderr + out.stdout


def test_plan_notebooks_fails_fast_naming_databricks(tmp_path: Path, dead_port: int) -> None:
    out = _run(_setup(tmp_path, dead_port), "plan", "--env", "dev", "--component", "notebooks")
    _one_line_naming(out, "Databricks workspace", dead_port)


def test_plan_adf_fails_fast_naming_arm(tmp_path: Path, dead_port: int) -> None:
    out = _run(_setup(tmp_path, dead_port), "plan", "--env", "dev", "--component", "adf")
    _one_line_naming(out, "Azure Resource Manager", dead_port)


def test_env_status_fails_fast_and_does_not_exit_0(tmp_path: Path, dead_port: int, azurite: Azurite,
                                                   storage: StorageAccount) -> None:
    env = {"AzureWebJobsStorage": azurite.connection_string, **storage.names.app_settings()}
    out = _run(_setup(tmp_path, dead_port), "env", "status", "dev", env=env)
    assert out.returncode == 3, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    assert f"127.0.0.1:{dead_port}" in out.stderr
    assert "Databricks workspace" in out.stderr or "Azure Resource Manager" in out.stderr
