"""Webhook intake benchmarks (issue 4), in process, against Azurite.

1. Handler time from the raw request to the 202 (signature, JSON, routing,
   dedupe claim, deployment record, queue message), p50 and p99, for a 5 KB and
   a 1 MB GitHub push. Reference, measured in the same run: the floor any
   handler pays for the same delivery (HMAC + JSON parse + one table insert +
   one queue message). Target: p99 <= 50 ms for 1 MB.
2. 10 concurrent deliveries of the same event: how many requests get queued
   (target: exactly 1).

Run alone: ``.venv/bin/python -m bench.bench_webhooks``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from typing import Any

SECRET = "bench-secret"
REPO = "contoso/data-platform"


def _payload(size: int) -> bytes:
    """A GitHub push of about ``size`` bytes (20 commits, as GitHub sends at most, padded messages)."""
    after = hashlib.sha1(str(size).encode()).hexdigest()
    base: dict[str, Any] = {
        "ref": "refs/heads/main", "before": "a" * 40, "after": after, "created": False, "deleted": False,
        "forced": False,
        "repository": {"full_name": REPO, "clone_url": f"https://github.com/{REPO}.git",
                       "html_url": f"https://github.com/{REPO}"},
        "pusher": {"name": "ada"}, "sender": {"login": "ada"}, "commits": []}
    n = 20
    overhead = len(json.dumps(base)) + n * 300
    pad = max(0, (size - overhead) // n)
    for i in range(n):
        sha = after if i == n - 1 else hashlib.sha1(f"{size}-{i}".encode()).hexdigest()
        base["commits"].append({"id": sha, "message": "x" * pad, "timestamp": "2026-01-05T10:00:00Z",
                                "author": {"name": "Ada", "username": "ada"},
                                "added": [], "removed": [], "modified": [f"notebooks/n{i}.py"]})
    return json.dumps(base).encode()


def _headers(body: bytes, delivery: str) -> dict[str, str]:
    sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": sig}


def _pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def run() -> list[dict[str, Any]]:
    import azure.functions as func

    from devhost.azurite import start_azurite
    from devhost.host import FunctionHost
    from functions import hooks
    from shared import app as app_context
    from shared.app import AppContext
    from shared.config import parse_config
    from shared.deploy.queue import DeploymentQueue
    from shared.settings import Settings, StorageNames
    from shared.storage import StorageAccount

    azurite = start_azurite()
    try:
        storage = StorageAccount(connection_string=azurite.connection_string,
                                 names=StorageNames(prefix="b" + uuid.uuid4().hex[:10])).ensure()
        config = parse_config({"repository": {"provider": "github", "url": f"https://github.com/{REPO}"},
                               "environments": {"dev": {"deploy_on": ["push"], "databricks": {
                                   "host": "http://127.0.0.1:9", "target_dir": "/Shared/dev"}}}})
        app_context.set_current(AppContext(settings=Settings({"GITHUB_WEBHOOK_SECRET": SECRET}),
                                           _config=config, _storage=storage))
        app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
        app.register_functions(hooks.bp)
        host = FunctionHost(app, {})

        def deliver(body: bytes, delivery: str) -> tuple[float, int]:
            t0 = time.perf_counter()
            status, _, _ = host.dispatch("POST", "http://localhost/api/hooks/github", _headers(body, delivery), body)
            return (time.perf_counter() - t0) * 1000, status

        def floor(body: bytes, i: int) -> float:
            t0 = time.perf_counter()
            hmac.compare_digest(_headers(body, "x")["X-Hub-Signature-256"],
                                "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest())
            json.loads(body)
            storage.table(storage.names.state_table).create_entity(
                {"PartitionKey": "floor", "RowKey": f"{len(body)}-{i}-{uuid.uuid4().hex}"})
            storage.queue(storage.names.poison_queue).send_message(b"{}")
            return (time.perf_counter() - t0) * 1000

        rows: list[dict[str, Any]] = []
        for label, size, n in (("5 KB", 5 * 1024, 200), ("1 MB", 1024 * 1024, 60)):
            body = _payload(size)
            for i in range(5):  # warm-up: connections, imports
                deliver(body, f"warm-{label}-{i}")
                floor(body, -i - 1)
            ours, ref = [], []
            for i in range(n):
                ms, status = deliver(body, str(uuid.uuid4()))
                assert status == 202, status
                ours.append(ms)
                ref.append(floor(body, i))
            for p in (50, 99):
                o, r = _pct(ours, p), _pct(ref, p)
                rows.append({"benchmark": f"webhook to 202, {label} push, p{p}", "ours": round(o, 2),
                             "reference": round(r, 2), "ratio": round(o / r, 2) if r else None,
                             "target": "p99 <= 50 ms" if label == "1 MB" and p == 99 else "",
                             "unit": "ms",
                             "note": f"{n} deliveries ({len(body)} bytes); reference = HMAC + JSON + "
                                     "1 table insert + 1 queue message"})

        # 10 concurrent deliveries of one event.
        queue = DeploymentQueue(storage)
        before = queue.count()
        body = _payload(5 * 1024)
        delivery = str(uuid.uuid4())
        statuses: list[int] = []
        barrier = threading.Barrier(10)

        def same() -> None:
            barrier.wait()
            statuses.append(deliver(body, delivery)[1])

        threads = [threading.Thread(target=same) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        queued = queue.count() - before
        rows.append({"benchmark": "10 concurrent deliveries of one event: requests queued", "ours": float(queued),
                     "reference": 1.0, "ratio": float(queued), "target": "== 1", "unit": "requests",
                     "note": f"answers {sorted(statuses)}"})
        return rows
    finally:
        app_context.set_current(None)
        azurite.stop()


if __name__ == "__main__":
    for row in run():
        print(json.dumps(row))
