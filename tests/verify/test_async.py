"""``POST /api/environments/{env}/verify`` over HTTP is the asynchronous request-reply pattern.

App Service's front end answers 502 to a request the app has not answered within 230 s (the function
keeps running, its answer is lost). The dev host's front end does the same with a limit a test can
shorten (``http_request_timeout``). Before, a verification longer than the limit was a 502 and no
result; now it is accepted at once (202, ``Location``, ``Retry-After``), run by the queue worker, and
its status resource answers 202 until it is final, then 200 with every check's result.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
import requests
import yaml

from devhost.azurite import free_port
from devhost.easyauth import LocalPrincipal
from devhost.host import FunctionHost
from devhost.keys import app_keys
from shared.app import AppContext, set_current
from shared.audit import AuditLedger
from shared.clock import SystemClock
from shared.config import parse_config
from shared.settings import Settings
from shared.storage import StorageAccount
from shared.verify import queued
from tests.cli.helpers import dataops
from tests.fixtures.host import keyed
from tests.fixtures.identity import AUTH_ON

from .conftest import TARGET_DIR, Platform

SMOKE = f"{TARGET_DIR}/verify/smoke"
CHECKS = [{"name": "smoke", "notebook": "verify/smoke", "on": ["notebooks"], "timeout": "2m"}]
LIMIT = 2.0  # the front end's request limit in these tests (230 s in Azure)
LONG = 5.0  # a check that runs longer than that
ROOT = Path(__file__).resolve().parents[2]
FAST_QUEUES = {"extensions": {"http": {"routePrefix": "api"},
                              "queues": {"maxPollingInterval": "00:00:00.200", "batchSize": 4}}}


def test_the_front_end_cuts_a_request_at_its_limit_and_the_function_keeps_running() -> None:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    release, finished = threading.Event(), threading.Event()

    @app.route(route="slow", methods=["GET"])
    def slow(req: func.HttpRequest) -> func.HttpResponse:
        release.wait(30)
        finished.set()
        return func.HttpResponse("done")

    @app.route(route="quick", methods=["GET"])
    def quick(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("ok")

    assert FunctionHost(app, {}, environ={}).http_request_timeout == 230.0  # App Service's, by default
    host = FunctionHost(app, {}, environ={}, http_request_timeout=0.5)
    port = free_port()
    host.serve_http("127.0.0.1", port)
    try:
        assert requests.get(f"http://127.0.0.1:{port}/api/quick", timeout=10).text == "ok"
        t0 = time.monotonic()
        cut = requests.get(f"http://127.0.0.1:{port}/api/slow", timeout=10)
        took = time.monotonic() - t0
        assert cut.status_code == 502 and 0.5 <= took < 5, (cut.status_code, took)
        assert not finished.is_set()  # the function is still running: its answer will be lost
        release.set()
        deadline = time.monotonic() + 10
        while not finished.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert finished.is_set()
    finally:
        release.set()
        host.stop()


@dataclass
class Api:
    base: str  # http://127.0.0.1:PORT/api
    host: FunctionHost

    @property
    def key(self) -> dict[str, str]:
        return keyed(self.host)

    def post(self, path: str) -> requests.Response:
        return requests.post(f"{self.base}/{path}", headers=self.key, timeout=30)

    def get(self, url: str) -> requests.Response:
        return requests.get(url, headers=self.key, timeout=30)

    def follow(self, location: str, deadline_s: float = 60) -> tuple[requests.Response, list[str]]:
        """GET the status resource as a client does (waiting Retry-After) until it is not 202."""
        seen: list[str] = []
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            r = self.get(location)
            assert time.monotonic() - t0 < LIMIT, "a status look must answer within the request limit"
            if r.status_code != 202:
                return r, seen
            seen.append(r.json()["status"])
            assert r.headers["Location"] == location
            time.sleep(int(r.headers["Retry-After"]))
        raise AssertionError(f"verification not final in time: {seen}")


def _context(platform: Platform, storage: StorageAccount) -> AppContext:
    settings = Settings({**AUTH_ON, **platform.settings().environ, **storage.names.app_settings()})
    return AppContext(settings=settings, clock=SystemClock(), _config=platform.config(CHECKS), _storage=storage)


@contextmanager
def serving(platform: Platform, storage: StorageAccount, *, limit: float = LIMIT) -> Iterator[Api]:
    """The app behind the dev host's front end (request limit ``limit``), its queue worker running."""
    from function_app import app

    set_current(_context(platform, storage))
    host = FunctionHost(app, FAST_QUEUES, environ={"AzureWebJobsStorage": str(storage.connection_string),
                                                   **storage.names.app_settings()}, http_request_timeout=limit)
    host.local_principal = LocalPrincipal("ops@contoso.example", "00000000-0000-0000-0000-00000000000a")
    port = free_port()
    host.serve_http("127.0.0.1", port)
    host.start_background(timers=False)
    try:
        yield Api(f"http://127.0.0.1:{port}/api", host)
    finally:
        host.stop()
        set_current(None)


def test_a_verify_longer_than_the_request_limit_is_accepted_and_followed_to_its_result(
        platform: Platform, storage: StorageAccount, ledger: AuditLedger) -> None:
    platform.dbx.seed_notebook(SMOKE, 'dbutils.notebook.exit("fine")')
    platform.dbx.script_run(SMOKE, duration_s=LONG, output="fine")
    with serving(platform, storage) as api:
        t0 = time.monotonic()
        accepted = api.post("environments/test/verify?component=notebooks")
        # Before: the front end cut the synchronous run at the limit (502, no result).
        assert accepted.status_code == 202, (accepted.status_code, accepted.text)
        assert time.monotonic() - t0 < LIMIT
        body = accepted.json()
        location = accepted.headers["Location"]
        assert location == f"{api.base}/environments/test/verify/{body['id']}" == body["location"]
        assert int(accepted.headers["Retry-After"]) >= 1
        assert body["status"] == "queued" and body["component"] == "notebooks"
        assert body["actor"] == "ops@contoso.example" and body["checks_planned"] == ["smoke"]

        done, seen = api.follow(location)
        assert done.status_code == 200, done.text
        assert "running" in seen and set(seen) <= {"queued", "running"}
        result = done.json()
        assert result["id"] == body["id"] and result["status"] == "passed" and result["attempts"] == 1
        (check,) = result["checks"]
        assert check["state"] == "passed" and check["output"] == "fine" and check["duration_s"] >= LONG - 0.5
        assert result["queued_at"] <= result["started_at"] <= result["ended_at"]
        record = ledger.get_activity(f"test~{body['id']}")
        assert record.kind == "verification" and record.status == "passed"

        # The caller's mistakes answer at once, and record nothing.
        assert api.post("environments/nope/verify").status_code == 404
        assert api.post("environments/test/verify?component=spark").status_code == 400
        assert api.get(f"{api.base}/environments/test/verify/nope-1").status_code == 404
        assert api.get(f"{api.base}/environments/test/verify/{'x' * 300}").status_code == 404
        assert requests.get(location, timeout=10).status_code == 401  # the status needs the function key too

        # ``dataops verify --api`` against the deployed app follows the Location to the result.
        platform.dbx.script_run(SMOKE, duration_s=LONG, output="fine again")
        key = {"DATAOPS_FUNCTION_KEY": api.key["x-functions-key"], "DATAOPS_CONFIG": ""}
        run = dataops(["verify", "--env", "test", "--component", "notebooks", "--api", api.base, "-o", "json"],
                      {**key, "AzureWebJobsStorage": ""})
        assert run.code == 0, run.err
        out = json.loads(run.out)
        assert out["status"] == "passed" and out["checks"][0]["output"] == "fine again"
        platform.dbx.script_run(SMOKE, duration_s=0.2, result_state="FAILED", error="boom")
        run = dataops(["verify", "--env", "test", "--api", api.base], key)
        assert run.code == 1, run.err
        assert "smoke" in run.out and "verification of test: failed (0 of 1 checks passed)" in run.out
        run = dataops(["verify", "--env", "nope", "--api", api.base], key)
        assert run.code == 2 and "unknown environment" in run.err and "Traceback" not in run.err
        run = dataops(["verify", "--env", "test", "--api", api.base], {"DATAOPS_FUNCTION_KEY": "wrong"})
        assert run.code == 2 and "401" in run.err and "wrong" not in run.err


def test_an_unqueued_request_is_not_left_queued(platform: Platform, storage: StorageAccount,
                                                ledger: AuditLedger) -> None:
    """Accepted means it ends: a request whose message is poisoned ends failed; one never queued is
    ended failed before answering 503."""
    ctx = _context(platform, storage)
    rec = queued.request_verification(ctx, "test", "notebooks", actor="ops")
    assert ledger.get_activity(rec.id).status == "queued"
    msg = storage.queue(storage.names.deploy_queue).receive_message()
    assert msg is not None and queued.parse_request(msg.content) == queued.parse_request(
        queued.VerificationRequest(rec.id, "test", "notebooks").to_bytes())
    assert queued.record_poisoned(ctx, msg.content, "moved to the poison queue") == rec.id
    final, body = queued.status_of(ctx, "test", queued.public_id(rec))
    assert final and body["status"] == "failed" and body["error"] == "moved to the poison queue"
    assert body["checks"] == []
    # The environment left the configuration before a worker took it: failed with the reason, not retried.
    again = queued.request_verification(ctx, "test", None, actor="ops")
    gone = AppContext(settings=ctx.settings, clock=ctx.clock, _storage=storage, _config=parse_config(
        {"repository": {"provider": "local", "url": "https://example.invalid/p"}, "environments": {"prod": {}}}))
    done = queued.run_requested(gone, queued.VerificationRequest(again.id, "test", None))
    assert done is not None and done.status == "failed" and "unknown environment 'test'" in done.data["error"]
    assert queued.run_requested(ctx, queued.VerificationRequest("test~nope", "test", None)) is None


def _host_process(env: dict[str, str], port: int, name: str, logs: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "devhost", "--port", str(port), "--no-timers",
                             "--message-lease", "2", "--instance-id", name], cwd=ROOT, env=env,
                            stdout=open(logs / f"{name}.log", "wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _wait_up(base: str, proc: subprocess.Popen[bytes], deadline_s: float = 120) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the dev host exited"
        try:
            requests.get(f"{base}/environments/test/verify/none", timeout=2)
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise AssertionError("the dev host did not start in time")


def _wait(predicate: Any, deadline_s: float = 60) -> Any:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_a_verification_whose_worker_is_killed_runs_again_and_ends_final(
        platform: Platform, storage: StorageAccount, ledger: AuditLedger, tmp_path: Path) -> None:
    """The host running it is SIGKILLed: the message reappears after its lease, another instance runs
    the verification again (re-attaching to the same Databricks run by its idempotency token)."""
    platform.dbx.seed_notebook(SMOKE, 'dbutils.notebook.exit("fine")')
    platform.dbx.script_run(SMOKE, duration_s=8, output="fine")
    raw = {"repository": {"provider": "local", "url": "https://example.invalid/p"},
           "security": {"local_identities": True}, "verification": {"poll_interval": 0.05},
           "environments": {"test": platform.environment(CHECKS)}}
    config = tmp_path / "environments.yaml"
    config.write_text(yaml.safe_dump(raw))
    env = {**os.environ, **platform.settings().environ, **storage.names.app_settings(),
           "AzureWebJobsStorage": str(storage.connection_string), "DATAOPS_CONFIG": str(config),
           "DATAOPS_LOCAL_PRINCIPAL": "ops@contoso.example"}
    env.pop("DATAOPS_TRACE_FILE", None)
    first_port, second_port = free_port(), free_port()
    first = _host_process(env, first_port, "first", tmp_path)
    second = None
    try:
        base = f"http://127.0.0.1:{first_port}/api"
        _wait_up(base, first)
        key = {"x-functions-key": app_keys(env).default}
        accepted = requests.post(f"{base}/environments/test/verify", headers=key, timeout=30)
        assert accepted.status_code == 202, accepted.text
        vid = accepted.json()["id"]
        _wait(lambda: ledger.get_activity(f"test~{vid}").status == "running")
        submits = _wait(lambda: platform.dbx.counters.count("jobs.runs.submit"))
        os.killpg(first.pid, signal.SIGKILL)  # the worker dies mid-run: no result, the message not deleted
        first.wait(30)
        assert ledger.get_activity(f"test~{vid}").status == "running"
        second = _host_process(env, second_port, "second", tmp_path)
        base = f"http://127.0.0.1:{second_port}/api"
        _wait_up(base, second)
        final = _wait(lambda: (r := requests.get(f"{base}/environments/test/verify/{vid}", headers=key, timeout=10))
                      .status_code == 200 and r, deadline_s=120)
        result = final.json()
        assert result["status"] == "passed" and result["attempts"] == 2, result
        assert result["checks"][0]["output"] == "fine"
        assert ledger.get_activity(f"test~{vid}").data["restarted"] == 1
        # The retried start re-attached to the run the first worker started (same idempotency token).
        assert platform.dbx.counters.count("jobs.runs.submit") == submits + 1
        assert len(platform.dbx.runs.submitted) == 1  # one run started, not two
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(autouse=True)
def _no_current() -> Iterator[None]:
    yield
    set_current(None)
