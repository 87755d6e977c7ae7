"""Traces and metrics leave the app: a real OTLP/HTTP receiver, the dev host, dev -> test -> prod.

The dev host runs as its own process with ``OTEL_EXPORTER_OTLP_ENDPOINT`` pointed at a receiver
on a free port that decodes the protobuf requests (opentelemetry-proto). A signed GitHub push
carrying a ``traceparent`` is deployed to dev, promoted to test and prod; everything it caused must
be one trace, with the CICD span names, kinds and attributes, HTTP client spans for the storage
and Databricks calls, the metrics, and no secret anywhere in what was sent.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from devhost.azurite import free_port
from devhost.standins.databricks import TOKEN_SETTING
from shared.ingest.webhook_sources import sign_github
from tests.deploy.helpers import LocalRepo

from .receiver import OtlpReceiver

ROOT = Path(__file__).resolve().parents[2]
ENVS = ("dev", "test", "prod")


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    r = OtlpReceiver()
    yield r
    r.stop()


def _config(path: Path, repo: LocalRepo, dbx_url: str) -> Path:
    def env(name: str) -> dict[str, Any]:
        return {"databricks": {"host": dbx_url, "token_setting": TOKEN_SETTING,
                               "target_dir": f"/Shared/{name}/data-platform"}}

    cfg = {"repository": {"provider": "local", "url": str(repo.path)},
           "databricks": {"source_dir": "notebooks"},
           "environments": {"dev": {"deploy_on": ["push"], **env("dev")},
                            "test": {"deploy_on": ["promotion"], "requires": ["dev"], **env("test")},
                            "prod": {"deploy_on": ["promotion"], "requires": ["test"], **env("prod")}}}
    path.write_text(yaml.safe_dump(cfg))
    return path


def _call(url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def _wait(what: str, fn: Any, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_webhook_to_prod_is_one_exported_trace_with_metrics(tmp_path, azurite, unique_prefix, databricks_standin,
                                                           receiver):
    repo = LocalRepo(tmp_path / "data-platform")
    sha = repo.commit({"notebooks/etl/load.py": "# Databricks notebook source\nprint('load')\n",
                       "notebooks/etl/clean.py": "# Databricks notebook source\nprint('clean')\n"})
    secret = "hook-" + secrets.token_hex(12)
    port = free_port()
    env = {**os.environ, "AzureWebJobsStorage": azurite.connection_string, "DATAOPS_STORAGE_PREFIX": unique_prefix,
           "DATAOPS_CONFIG": str(_config(tmp_path / "platform.yaml", repo, databricks_standin.url)),
           "GITHUB_WEBHOOK_SECRET": secret, TOKEN_SETTING: databricks_standin.token,
           "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_SERVICE_NAME": "dataops-test",
           "OTEL_BSP_SCHEDULE_DELAY": "200", "OTEL_METRIC_EXPORT_INTERVAL": "500",
           "AZURE_CORE_ONLY_SHOW_ERRORS": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("APPLICATIONINSIGHTS_CONNECTION_STRING", None)
    log = (tmp_path / "host.log").open("wb")
    host = subprocess.Popen([sys.executable, "-m", "devhost", "--port", str(port), "--no-timers"], cwd=ROOT,
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    api = f"http://127.0.0.1:{port}/api"
    try:
        _wait("the dev host", lambda: _ready(api), timeout=60)
        payload = {"ref": "refs/heads/main", "before": "0" * 40, "after": sha, "created": True, "deleted": False,
                   "forced": False, "repository": {"full_name": "contoso/data-platform",
                                                   "clone_url": f"https://x-token:{secret}@github.com/contoso/"
                                                                "data-platform.git",
                                                   "html_url": "https://github.com/contoso/data-platform"},
                   "pusher": {"name": "ada"}, "sender": {"login": "ada"},
                   "commits": [{"id": sha, "message": "Add notebooks", "timestamp": "2026-01-05T11:00:00+01:00",
                                "author": {"name": "Ada", "username": "ada"}}]}
        body = json.dumps(payload).encode()
        caller_trace = secrets.token_hex(16)
        status, answer = _call(f"{api}/hooks/github", body, {
            "Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": secrets.token_hex(8),
            "X-Hub-Signature-256": sign_github(secret, body), "traceparent": f"00-{caller_trace}-{'1' * 16}-01"})
        assert status == 202 and answer["status"] == "queued", answer
        # The host continued the caller's trace; the app's spans are in it, and the answer says so.
        assert answer["trace_id"] == caller_trace

        def settled() -> list[dict[str, Any]] | None:
            _, page = _call(f"{api}/deployments?limit=50")
            mine = [d for d in page.get("items", []) if d["commit"] == sha]
            done = {d["environment"] for d in mine if d["status"] == "succeeded"}
            return mine if done >= set(ENVS) else None

        deployments = _wait("dev, test and prod to succeed", settled, timeout=180)
        assert {d["trace_id"] for d in deployments} == {caller_trace}
        runs = {d["environment"]: d["id"] for d in deployments}

        def exported() -> bool:
            names = {(s["name"], s["attributes"].get("deployment.environment.name"))
                     for s in receiver.spans_of(caller_trace)}
            return all(("SYNC dataops-notebooks", e) in names for e in ENVS) and bool(
                receiver.metric("cicd.pipeline.run.duration", **{"deployment.environment.name": "prod"}))

        receiver.wait(exported, timeout=60)
    finally:
        host.terminate()
        host.wait(30)
        log.close()

    spans = receiver.spans_of(caller_trace)
    by_id = {s["span_id"]: s for s in spans}
    # Every span the app sent for this push is in the caller's trace (nothing orphaned elsewhere).
    others = [s for s in receiver.spans if s["trace_id"] != caller_trace and s["scope"] == "dataops.deployer"
              and s["name"].startswith(("SYNC", "dataops."))]
    assert others == []
    http = next(s for s in spans if s["name"] == "POST /api/hooks/github")
    # Its parent is the host's invocation (a new span id in the caller's trace), not a span of ours.
    assert http["kind"] == "SPAN_KIND_SERVER" and http["parent_id"] not in (None, "1" * 16, *by_id)
    assert http["attributes"]["http.response.status_code"] == 202
    hook = next(s for s in spans if s["name"] == "dataops.webhook github")
    assert hook["parent_id"] == http["span_id"]
    assert hook["attributes"]["vcs.ref.head.name"] == "main"
    assert hook["attributes"]["vcs.ref.head.type"] == "branch"
    assert hook["attributes"]["vcs.provider.name"] == "github"
    assert hook["attributes"]["vcs.repository.name"] == "data-platform"

    pipeline = {s["attributes"]["deployment.environment.name"]: s for s in spans
                if s["name"] == "SYNC dataops-notebooks"}
    assert set(pipeline) == set(ENVS)
    for env_name, s in pipeline.items():
        a = s["attributes"]
        assert s["kind"] == "SPAN_KIND_SERVER"
        assert a["cicd.pipeline.name"] == "dataops-notebooks" and a["cicd.pipeline.action.name"] == "SYNC"
        assert a["cicd.pipeline.result"] == "success" and a["cicd.pipeline.run.id"] == runs[env_name]
        assert a["vcs.ref.head.name"] == "main" and a["vcs.ref.head.type"] == "branch"
        assert a["vcs.ref.head.revision"] == sha and a["vcs.repository.name"]
        assert a["vcs.provider.name"] == "local"
        # The worker's invocation (its own trace, as the host starts for a queue message) is linked.
        assert [lk[1].get("dataops.link") for lk in s["links"]] == ["functions.invocation"]
    # Promotions: test's run descends from dev's, prod's from test's (through the after-end hook).
    assert _descends(by_id, pipeline["test"], pipeline["dev"]) and _descends(by_id, pipeline["prod"], pipeline["test"])

    tasks = [s for s in spans if s["attributes"].get("cicd.pipeline.task.name")]
    assert {s["attributes"]["cicd.pipeline.task.name"] for s in tasks} >= {"load_commit", "plan", "apply"}
    for t in tasks:
        assert t["kind"] == "SPAN_KIND_INTERNAL"
        if t["attributes"]["cicd.pipeline.task.name"] != "load_commit":
            assert t["attributes"]["cicd.pipeline.task.run.id"].split("/")[0] in runs.values()
            assert t["attributes"]["cicd.pipeline.task.run.result"] == "success"

    # HTTP client spans: storage (azure-core) and Databricks (requests), under the pipeline runs.
    clients = [s for s in spans if s["kind"] == "SPAN_KIND_CLIENT"]
    dbx_port = databricks_standin.url.rsplit(":", 1)[1]
    dbx = [s for s in clients if dbx_port in str(s["attributes"].get("url.full") or s["attributes"].get("http.url"))]
    storage = [s for s in clients if s["scope"].startswith("azure")]
    assert dbx and storage, {s["name"] for s in clients}
    prod_dbx = [s for s in dbx if _descends(by_id, s, pipeline["prod"])]
    assert prod_dbx, "no Databricks call under the prod run"

    # Metrics, per environment, component and result.
    for env_name in ENVS:
        runs_done = receiver.metric("cicd.pipeline.run.duration", **{
            "deployment.environment.name": env_name, "dataops.component": "notebooks",
            "cicd.pipeline.run.state": "executing", "cicd.pipeline.result": "success"})
        assert runs_done and runs_done[-1]["kind"] == "histogram" and runs_done[-1]["unit"] == "s"
        assert receiver.metric("cicd.pipeline.run.duration", **{"deployment.environment.name": env_name,
                                                                 "cicd.pipeline.run.state": "pending"})
        assert receiver.metric("dataops.deployment.queue.wait", **{"deployment.environment.name": env_name})
        imports = receiver.metric("dataops.notebooks.imports", **{"deployment.environment.name": env_name,
                                                                   "result": "success"})
        assert imports and imports[-1]["value"] == 2
    assert receiver.metric("cicd.pipeline.run.active", **{"cicd.pipeline.run.state": "executing"})
    assert receiver.metric("http.server.request.duration", **{"http.route": "/api/hooks/github",
                                                               "http.response.status_code": 202})
    resource = pipeline["dev"]["resource"]
    assert resource["service.name"] == "dataops-test"

    # Nothing secret in anything that left the process.
    sent = b"".join(receiver.raw)
    for value in (secret, databricks_standin.token, azurite.connection_string.split("AccountKey=")[1].split(";")[0]):
        assert value.encode() not in sent


def _ready(api: str) -> bool:
    try:
        return _call(f"{api}/deployments?limit=1")[0] == 200
    except OSError:
        return False


def _descends(by_id: dict[str, dict[str, Any]], span: dict[str, Any], ancestor: dict[str, Any]) -> bool:
    seen = 0
    while span is not None and seen < 200:
        if span["span_id"] == ancestor["span_id"]:
            return True
        span = by_id.get(span.get("parent_id") or "")
        seen += 1
    return False
