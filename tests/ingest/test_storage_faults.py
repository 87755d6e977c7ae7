"""Webhook intake is exactly-once while storage refuses and hangs, through a TCP fault proxy.

The app talks to Azurite through :class:`devhost.faultproxy.StorageFaults` (one proxy per
endpoint) that a thread switches between pass, refuse (connections refused, open ones reset) and
hang (nothing answered). Senders behave like Azure DevOps: a 503 or a timeout is retried with the
same delivery; some deliveries are also redelivered and replayed under a new id after their 202.
Afterwards, with storage healthy, the sweeper and the worker drain everything. Every acknowledged
delivery must end as one deployment per environment, run once; no record stays ``queued``; every
answer comes within the budget.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest

from devhost.azurite import Azurite
from devhost.faultproxy import StorageFaults
from shared import app as app_context
from shared.audit.records import FINAL_STATUSES
from shared.clock import SystemClock
from shared.deploy.model import ApplyResult, DeployContext, Plan
from shared.deploy.queue import DeploymentQueue
from shared.ingest.sweeper import sweep_queued
from shared.settings import StorageNames
from shared.storage import StorageAccount
from tests.deploy.helpers import LocalRepo, RecordingDeployer, make_config

from .helpers import context, dispatch, github, github_push, host, serving

BUDGET = 1.5
SLACK = 0.6  # the dev host, the handler and the test's own thread scheduling on a busy machine


class PerEnvironment(RecordingDeployer):
    """Records (environment, commit) so a double deployment anywhere shows."""

    def apply(self, ctx: DeployContext, plan: Plan) -> ApplyResult:
        result = super().apply(ctx, plan)
        self.applied[-1] = f"{ctx.environment}:{plan.commit}"
        return result


@pytest.fixture
def faults(azurite: Azurite) -> Iterator[StorageFaults]:
    sf = StorageFaults(azurite.host, azurite.blob_port, azurite.queue_port, azurite.table_port)
    try:
        yield sf
    finally:
        sf.stop()


def _fault_schedule(faults: StorageFaults, stop: threading.Event, log: list[str]) -> None:
    pattern = [("pass", 0.8), ("refuse", 0.6), ("pass", 0.8), ("hang", 2.0), ("pass", 0.6), ("refuse", 0.3),
               ("hang", 1.2)]
    i = 0
    while not stop.is_set():
        mode, seconds = pattern[i % len(pattern)]
        faults.set_mode(mode)
        log.append(mode)
        stop.wait(seconds)
        i += 1
    faults.set_mode("pass")


def test_every_acknowledged_delivery_is_deployed_exactly_once_through_refusals_and_hangs(
        faults: StorageFaults, azurite: Azurite, unique_prefix: str, tmp_path, deployers, monkeypatch) -> None:
    deployer = PerEnvironment("notebooks")
    deployers["notebooks"] = deployer
    repo = LocalRepo(tmp_path / "data-platform")
    shas = [repo.commit({"notebooks/n.py": f"# Databricks notebook source\nprint({i})\n"}) for i in range(24)]
    env = {"deploy_on": ["push"], "databricks": {"host": "http://127.0.0.1:9", "target_dir": "/Shared/dev"}}
    config = make_config(str(repo.path), envs={"dev": env, "test": env})
    names = StorageNames(prefix=unique_prefix)
    direct = StorageAccount(connection_string=azurite.connection_string, names=names).ensure()
    proxied = StorageAccount(connection_string=faults.connection_string, names=names)
    hooks_ctx = context(proxied, config, SystemClock(), settings={"DATAOPS_WEBHOOK_BUDGET_S": str(BUDGET)})
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)  # the host's own queue polling
    for name, value in names.app_settings().items():
        monkeypatch.setenv(name, value)
    h = host()

    answers: dict[str, list[tuple[int, dict[str, Any], float]]] = defaultdict(list)
    lock = threading.Lock()

    def post(headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        t0 = time.monotonic()
        status, _, data = h.dispatch("POST", "http://x/api/hooks/github", headers, body)
        took = time.monotonic() - t0
        answer = json.loads(data)
        with lock:
            answers[headers["X-GitHub-Delivery"]].append((status, answer, took))
        return status, answer

    def sender(chunk: list[int]) -> None:
        for i in chunk:
            payload = github_push(repo="contoso/data-platform", after=shas[i], before=shas[i - 1] if i else "0" * 40)
            payload["repository"]["pushed_at"] = i  # each push's body is its own
            headers, body = github(payload, delivery=f"d{i}-{uuid.uuid4().hex[:8]}")
            for _ in range(12):  # the sender retries a 503 with the same delivery (Azure DevOps does)
                status, answer = post(headers, body)
                if status == 202:
                    break
                assert status == 503, (status, answer)
                time.sleep(0.25)
            else:
                continue  # never acknowledged: may or may not be deployed, never twice
            if i % 4 == 0:
                post(headers, body)  # a redelivery
                post(github(body, delivery=f"r{i}-{uuid.uuid4().hex[:8]}")[0], body)  # a replay, new id

    app_context.set_current(hooks_ctx)
    stop = threading.Event()
    modes: list[str] = []
    schedule = threading.Thread(target=_fault_schedule, args=(faults, stop, modes), daemon=True)
    schedule.start()
    try:
        senders = [threading.Thread(target=sender, args=(list(range(k, len(shas), 4)),)) for k in range(4)]
        for t in senders:
            t.start()
        for t in senders:
            t.join(240)
    finally:
        stop.set()
        schedule.join(10)
        app_context.set_current(None)
    assert {"refuse", "hang"} <= set(modes)
    assert any(s == 503 for v in answers.values() for s, _, _ in v), "the faults never bit"

    # Every answer within the budget.
    slow = [(d, s, round(t, 2)) for d, v in answers.items() for s, _, t in v if t > BUDGET + SLACK]
    assert slow == [], slow

    # Storage healthy again: the sweeper sends what lost its message, the worker drains the queue.
    worker_ctx = context(direct, config, SystemClock(), components=deployers.components)
    app_context.set_current(worker_ctx)
    try:
        sweep_queued(worker_ctx.ledger, DeploymentQueue(direct), config, requeue_after=timedelta(0))
        # One message at a time: a batch would mostly wait for the environment lock (15 s each).
        import azure.functions as func

        from devhost.host import FunctionHost
        from functions import worker as worker_bp

        app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
        app.register_functions(worker_bp.bp)
        drain = FunctionHost(app, {"extensions": {"queues": {"batchSize": 1, "newBatchThreshold": 0}}})
        worker = drain.listener("deployment_worker")
        idle = 0
        deadline = time.monotonic() + 120
        while idle < 2 and time.monotonic() < deadline:
            idle = idle + 1 if worker.process_once() == 0 else 0
    finally:
        app_context.set_current(None)

    records = [r for e in ("dev", "test") for r in worker_ctx.ledger.iter_deployments(e)]
    # No orphan: nothing left queued or half-run.
    assert [(r.id, r.status) for r in records if r.status not in FINAL_STATUSES] == []
    # One record per environment and push, however often it was delivered, retried or replayed.
    per_push = Counter((r.environment, r.commit) for r in records)
    assert max(per_push.values()) == 1, [k for k, n in per_push.items() if n > 1]
    # Each acknowledged delivery: the same ids in every 202, one per environment, ended succeeded or
    # superseded (an older commit arriving after a newer one), applied at most once.
    by_id = {r.id: r for r in records}
    acknowledged = 0
    for delivery, seen in answers.items():
        ids = {tuple(sorted(a["deployments"])) for s, a, _ in seen if s == 202}
        if not ids:
            continue
        acknowledged += 1
        assert len(ids) == 1, (delivery, ids)
        (deployments,) = ids
        assert len(deployments) == 2
        for did in deployments:
            assert by_id[did].status in ("succeeded", "superseded"), (did, by_id[did].status, by_id[did].error)
    assert acknowledged >= len(shas) // 2
    applied = Counter(deployer.applied)
    assert max(applied.values()) == 1, [k for k, n in applied.items() if n > 1]
    assert set(applied) == {f"{r.environment}:{r.commit}" for r in records if r.status == "succeeded"}


@contextmanager
def _through_proxies(faults: StorageFaults, azurite: Azurite, prefix: str,
                     budget: float) -> Iterator[tuple[StorageAccount, Any]]:
    """(direct storage, the hooks' context through the proxies, current while the block runs)."""
    names = StorageNames(prefix=prefix)
    direct = StorageAccount(connection_string=azurite.connection_string, names=names).ensure()
    proxied = StorageAccount(connection_string=faults.connection_string, names=names)
    with serving(proxied, SystemClock(), settings={"DATAOPS_WEBHOOK_BUDGET_S": str(budget)}) as ctx:
        yield direct, ctx


def test_queue_refused_releases_the_claim_and_leaves_no_record(faults: StorageFaults, azurite: Azurite,
                                                                unique_prefix: str) -> None:
    headers, body = github(github_push(), delivery="refused-queue")
    with _through_proxies(faults, azurite, unique_prefix, 2.0) as (direct, ctx):
        faults.proxies[1].set_mode("refuse")  # the queue endpoint only: records are written, no message
        status, data = dispatch("github", headers, body)
        assert status == 503, data
        ledger = context(direct, ctx.config, SystemClock()).ledger
        assert ledger.list_deployments("dev").items == []  # nothing was queued: its records are gone too
        from shared.claims import Claims
        from shared.ingest.delivery import CLAIM_SCOPE

        assert Claims(direct).get(CLAIM_SCOPE, "github:refused-queue") is None  # released
        faults.proxies[1].set_mode("pass")
        status, data = dispatch("github", headers, body)
        assert status == 202 and json.loads(data)["status"] == "queued"
        assert len(ledger.list_deployments("dev").items) == 1 and len(DeploymentQueue(direct).peek()) == 2


def test_queue_hanging_keeps_the_claim_and_the_retry_reuses_the_ids(faults: StorageFaults, azurite: Azurite,
                                                                     unique_prefix: str) -> None:
    headers, body = github(github_push(), delivery="hung-queue")
    with _through_proxies(faults, azurite, unique_prefix, 1.0) as (direct, ctx):
        faults.proxies[1].set_mode("hang")  # a send that may have arrived: never released
        t0 = time.monotonic()
        status, _ = dispatch("github", headers, body)
        assert status == 503 and time.monotonic() - t0 < 1.0 + SLACK
        ledger = context(direct, ctx.config, SystemClock()).ledger
        first = sorted(r.id for e in ("dev", "test") for r in ledger.list_deployments(e).items)
        assert len(first) == 2
        faults.proxies[1].set_mode("pass")
        deadline = time.monotonic() + 10
        while True:  # within the first receiver's budget the claim is its; then a retry takes over
            status, data = dispatch("github", headers, body)
            if status == 202 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        answer = json.loads(data)
        assert status == 202 and answer["status"] == "recovered" and sorted(answer["deployments"]) == first
        assert sorted(r.id for e in ("dev", "test") for r in ledger.list_deployments(e).items) == first
