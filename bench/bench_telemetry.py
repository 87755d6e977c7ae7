"""Tracing overhead on the webhook path (issue 18).

Webhook-to-202 handler time (5 KB GitHub push, through the dev host's dispatcher, against
Azurite) with telemetry on vs off. "On" is what production runs: OTLP/HTTP traces and metrics
exported by the batch processors to a local sink, azure-core and requests instrumented, the
scrubbing exporter. Each side runs in fresh processes (telemetry is configured once per
process), alternated off/on three times so drift hits both; the note gives each pair's p50
ratio (on a shared machine a single pair can be off by 20 % either way). Target: p50 on <= 1.10 x
p50 off.

Run alone: ``.venv/bin/python -m bench.bench_telemetry [deliveries]``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _child(conn: str, n: int) -> list[float]:
    import time

    import azure.functions as func

    from bench.bench_webhooks import REPO, SECRET, _headers, _payload
    from devhost.host import FunctionHost
    from functions import hooks
    from shared import app as app_context
    from shared.app import AppContext
    from shared.config import parse_config
    from shared.settings import Settings, StorageNames
    from shared.storage import StorageAccount

    storage = StorageAccount(connection_string=conn, names=StorageNames(prefix="b" + uuid.uuid4().hex[:10])).ensure()
    config = parse_config({"repository": {"provider": "github", "url": f"https://github.com/{REPO}"},
                           "environments": {"dev": {"deploy_on": ["push"], "databricks": {
                               "host": "http://127.0.0.1:9", "target_dir": "/Shared/dev"}}}})
    app_context.set_current(AppContext(settings=Settings({"GITHUB_WEBHOOK_SECRET": SECRET}), _config=config,
                                       _storage=storage))
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    app.register_functions(hooks.bp)
    host = FunctionHost(app, {})
    body = _payload(5 * 1024)
    out = []
    for i in range(n + 10):
        t0 = time.perf_counter()
        status, _, _ = host.dispatch("POST", "http://localhost/api/hooks/github",
                                     _headers(body, str(uuid.uuid4())), body)
        assert status == 202, status
        if i >= 10:  # warm-up: connections, imports, the first configuration
            out.append((time.perf_counter() - t0) * 1000)
    from shared import telemetry

    telemetry.shutdown()
    return out


class _Sink:
    """Accepts OTLP/HTTP requests and answers an empty (valid) protobuf response."""

    def __init__(self) -> None:
        from devhost.azurite import free_port

        self.port = free_port()
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _run_child(conn: str, n: int, otlp: str | None) -> list[float]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OTEL_EXPORTER_OTLP_ENDPOINT", "APPLICATIONINSIGHTS_CONNECTION_STRING", "DATAOPS_TRACE_FILE")}
    env["AZURE_CORE_ONLY_SHOW_ERRORS"] = "1"
    if otlp:
        env.update({"OTEL_EXPORTER_OTLP_ENDPOINT": otlp, "OTEL_SERVICE_NAME": "dataops-bench"})
    out = subprocess.run([sys.executable, "-m", "bench.bench_telemetry", "--child", conn, str(n)], cwd=ROOT,
                         env=env, check=True, capture_output=True, text=True)
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


def _pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def run(n: int = 100, rounds: int = 3) -> list[dict[str, Any]]:
    from devhost.azurite import start_azurite

    azurite = start_azurite()
    sink = _Sink()
    try:
        off: list[float] = []
        on: list[float] = []
        pairs: list[float] = []  # p50 on / p50 off of each adjacent pair of processes
        for i in range(rounds):
            sides = [None, f"http://127.0.0.1:{sink.port}"]
            if i % 2:  # which side goes first alternates too
                sides.reverse()
            got = {side: _run_child(azurite.connection_string, n, side) for side in sides}
            o, t = got[None], got[f"http://127.0.0.1:{sink.port}"]
            off, on = off + o, on + t
            pairs.append(statistics.median(t) / statistics.median(o))
        rows = []
        for p in (50, 99):
            o, r = _pct(on, p), _pct(off, p)
            rows.append({"benchmark": f"webhook to 202 (5 KB push), tracing on vs off, p{p}", "ours": round(o, 2),
                         "reference": round(r, 2), "ratio": round(o / r, 3) if r else None,
                         "target": "<= 1.10" if p == 50 else "", "unit": "ms",
                         "note": f"{len(on)} deliveries each side in {rounds}+{rounds} alternated processes "
                                 f"(p50 ratio per pair {', '.join(f'{r:.3f}' for r in pairs)}); on = OTLP/HTTP "
                                 f"export to a local sink ({sink.requests} requests received), azure-core + "
                                 "requests instrumented, scrubbing"})
        rows.append({"benchmark": "webhook to 202, tracing on, mean", "ours": round(statistics.mean(on), 2),
                     "reference": round(statistics.mean(off), 2),
                     "ratio": round(statistics.mean(on) / statistics.mean(off), 3), "target": "", "unit": "ms",
                     "note": "mean of the same samples"})
        return rows
    finally:
        sink.stop()
        azurite.stop()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(_child(sys.argv[2], int(sys.argv[3]))))
    else:
        from bench.__main__ import print_table

        print_table(run(int(sys.argv[1]) if len(sys.argv) > 1 else 100))
