"""The dev host as its own process against the stand-ins, and a signed push to it."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devhost.azurite import free_port
from devhost.keys import app_keys
from devhost.standins.databricks import TOKEN_SETTING
from shared.ingest.webhook_sources import sign_github
from shared.settings import StorageNames
from tests.deploy.helpers import LocalRepo
from tests.polling import wait_until

ROOT = Path(__file__).resolve().parents[2]


def write_config(path: Path, repo: LocalRepo, dbx_url: str, envs: tuple[str, ...],
                 approval: tuple[str, ...] = ()) -> Path:
    environments: dict[str, Any] = {}
    for i, name in enumerate(envs):
        trigger: dict[str, Any] = {"deploy_on": ["push"]} if i == 0 else {
            "deploy_on": ["promotion"], "requires": [envs[i - 1]]}
        if name in approval:
            trigger["approval"] = "required"
        environments[name] = {**trigger, "databricks": {"host": dbx_url, "token_setting": TOKEN_SETTING,
                                                        "target_dir": f"/Shared/{name}/data-platform"}}
    cfg = {"repository": {"provider": "local", "url": str(repo.path)},
           "databricks": {"source_dir": "notebooks"}, "environments": environments,
           "security": {"local_identities": True},  # the dev host signs the approver in (Easy Auth stand-in)
           "people": [{"entra": "ada@contoso.example", "git": ["ada", "Ada Dev", "ada@example.com"]}]}
    path.write_text(yaml.safe_dump(cfg))
    return path


def call(url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def wait(what: str, fn: Any, timeout: float = 120) -> Any:
    return wait_until(fn, timeout, what, interval=0.3)


@dataclass
class Stack:
    api: str
    secret: str
    repo: LocalRepo
    log: Path
    env: dict[str, str]  # the host's app settings (the CLI runs with the same)
    key: str = ""  # the app's default host key (its routes are FUNCTION level)

    def push(self, sha: str, caller_trace: str) -> tuple[int, Any]:
        """A signed GitHub push of ``sha``; its clone URL carries the webhook secret (must never leave)."""
        payload = {"ref": "refs/heads/main", "before": "0" * 40, "after": sha, "created": True, "deleted": False,
                   "forced": False, "repository": {
                       "full_name": "contoso/data-platform",
                       "clone_url": f"https://x-token:{self.secret}@github.com/contoso/data-platform.git",
                       "html_url": "https://github.com/contoso/data-platform"},
                   "pusher": {"name": "ada"}, "sender": {"login": "ada"},
                   "commits": [{"id": sha, "message": "Add notebooks", "timestamp": "2026-01-05T11:00:00+01:00",
                                "author": {"name": "Ada", "username": "ada"}}]}
        body = json.dumps(payload).encode()
        return call(f"{self.api}/hooks/github", body, {
            "Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": secrets.token_hex(8),
            "X-Hub-Signature-256": sign_github(self.secret, body), "traceparent": f"00-{caller_trace}-{'1' * 16}-01"})

    def settled(self, sha: str, envs: tuple[str, ...], timeout: float = 180,
                status: str = "succeeded") -> list[dict[str, Any]]:
        def done() -> list[dict[str, Any]] | None:
            _, page = call(f"{self.api}/deployments?limit=50", headers={"x-functions-key": self.key})
            mine = [d for d in page.get("items", []) if d["commit"] == sha]
            ok = {d["environment"] for d in mine if d["status"] == status}
            return mine if ok >= set(envs) else None

        try:
            return wait(f"{', '.join(envs)} to succeed", done, timeout)  # type: ignore[no-any-return]
        except AssertionError:
            raise AssertionError(self.log.read_text()[-4000:]) from None


    def approve(self, deployment_id: str, trace_id: str) -> tuple[int, Any]:
        """Approve as the signed-in local user (not the pusher), from another trace (their browser)."""
        return call(f"{self.api}/deployments/{deployment_id}/approve", b'{"reason": "ok"}', {
            "Content-Type": "application/json", "traceparent": f"00-{trace_id}-{'2' * 16}-01",
            "x-functions-key": self.key})


@contextlib.contextmanager
def dev_host(tmp_path: Path, azurite: Any, prefix: str, databricks: Any, envs: tuple[str, ...],
             telemetry_env: dict[str, str], approval: tuple[str, ...] = ()) -> Iterator[Stack]:
    """``python -m devhost`` on a free port, deploying a local repository's notebooks to ``envs``."""
    repo = LocalRepo(tmp_path / "data-platform")
    secret = "hook-" + secrets.token_hex(12)
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("APPLICATIONINSIGHTS_CONNECTION_STRING", "OTEL_EXPORTER_OTLP_ENDPOINT")}
    env.update({"AzureWebJobsStorage": azurite.connection_string, **StorageNames(prefix).app_settings(),
                "DATAOPS_CONFIG": str(write_config(tmp_path / "platform.yaml", repo, databricks.url, envs, approval)),
                "GITHUB_WEBHOOK_SECRET": secret, TOKEN_SETTING: databricks.token,
                "DATAOPS_LOCAL_PRINCIPAL": "lee@contoso.example",
                "OTEL_BSP_SCHEDULE_DELAY": "200", "OTEL_METRIC_EXPORT_INTERVAL": "500",
                "AZURE_CORE_ONLY_SHOW_ERRORS": "1", "PYTHONUNBUFFERED": "1", **telemetry_env})
    log_path = tmp_path / "host.log"
    key = app_keys(env).default  # as a user reads them (the host converges on the same set)
    with log_path.open("wb") as log:
        host = subprocess.Popen([sys.executable, "-m", "devhost", "--port", str(port), "--no-timers"], cwd=ROOT,
                                env=env, stdout=log, stderr=subprocess.STDOUT)
        api = f"http://127.0.0.1:{port}/api"
        try:
            def ready() -> bool:
                try:
                    return call(f"{api}/deployments?limit=1", headers={"x-functions-key": key})[0] == 200
                except OSError:
                    return host.poll() is not None  # exited: fail below with its log

            wait("the dev host", ready, timeout=60)
            assert host.poll() is None, log_path.read_text()[-4000:]
            yield Stack(api, secret, repo, log_path, env, key)
        finally:
            host.terminate()
            host.wait(30)


def descends(by_id: dict[str, dict[str, Any]], span: dict[str, Any] | None, ancestor: dict[str, Any]) -> bool:
    for _ in range(200):
        if span is None:
            return False
        if span["span_id"] == ancestor["span_id"]:
            return True
        span = by_id.get(span.get("parent_id") or "")
    return False


NOTEBOOKS = {"notebooks/etl/load.py": "# Databricks notebook source\nprint('load')\n",
             "notebooks/etl/clean.py": "# Databricks notebook source\nprint('clean')\n"}
