"""Tracing overhead on the webhook path (issue 18).

Webhook-to-202 handler time (5 KB GitHub push, through the dev host's dispatcher, against
Azurite) with telemetry on vs off. "On" is what production runs: OTLP/HTTP traces, logs and
metrics exported by the batch processors to a local sink, azure-core and requests instrumented,
the scrubbing exporters. Telemetry is configured once per process, so each side is its own
long-lived process; the parent drives them in interleaved blocks (off, on, on, off, ...) of a few
deliveries each, so machine drift (other processes on a shared machine) hits both sides alike.
Reported: the p50 of all on samples over the p50 of all off samples, measured in the same run,
and the median of the per-block-pair p50 ratios. Target: p50 on <= 1.10 x p50 off.

Run alone: ``.venv/bin/python -m bench.bench_telemetry [blocks] [per_block]``.
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
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
WARMUP = 20


def _child(conn: str) -> None:
    """Serve ``N`` (run N deliveries, answer their times in ms) until ``quit``, on stdin/stdout."""
    import time

    import azure.functions as func

    from bench.bench_webhooks import REPO, SECRET, _headers, _payload
    from devhost.host import FunctionHost
    from functions import hooks
    from shared import app as app_context
    from shared import telemetry
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
    template = _payload(5 * 1024)
    head = json.loads(template)["after"].encode()

    def deliveries(n: int) -> dict[str, Any]:
        out = []
        cpu = time.process_time()  # every thread of the process: the exporters' work included
        for _ in range(n):
            # A new commit each time: the whole accept path (claim, record, queue message), not a replay.
            body = template.replace(head, uuid.uuid4().hex.encode() + head[:8])
            headers = _headers(body, str(uuid.uuid4()))
            t0 = time.perf_counter()
            status, _, answer = host.dispatch("POST", "http://localhost/api/hooks/github", headers, body)
            assert status == 202 and b'"queued"' in answer, (status, answer)
            out.append((time.perf_counter() - t0) * 1000)
        return {"ms": out, "cpu_ms": (time.process_time() - cpu) * 1000}

    deliveries(WARMUP)  # connections, imports, the first configuration
    print(json.dumps({"ready": telemetry.setup_telemetry()}), flush=True)
    for line in sys.stdin:
        if line.strip() == "quit":
            break
        print(json.dumps(deliveries(int(line))), flush=True)
    telemetry.shutdown()


class _Sink:
    """Accepts OTLP/HTTP requests and answers an empty (valid) protobuf response."""

    def __init__(self) -> None:
        from devhost.azurite import free_port

        self.port = free_port()
        self.requests: dict[str, int] = {}
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.requests[self.path] = owner.requests.get(self.path, 0) + 1
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


class _Side:
    """One long-lived child process (telemetry on or off)."""

    def __init__(self, conn: str, otlp: str | None) -> None:
        env = {k: v for k, v in os.environ.items() if k not in (
            "OTEL_EXPORTER_OTLP_ENDPOINT", "APPLICATIONINSIGHTS_CONNECTION_STRING", "DATAOPS_TRACE_FILE")}
        env["AZURE_CORE_ONLY_SHOW_ERRORS"] = "1"
        if otlp:
            env.update({"OTEL_EXPORTER_OTLP_ENDPOINT": otlp, "OTEL_SERVICE_NAME": "dataops-bench"})
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.bench_telemetry", "--child", conn], cwd=ROOT,
                                     env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.samples: list[float] = []
        self.cpu_ms = 0.0

    def _line(self) -> Any:
        out: IO[str] = self.proc.stdout  # type: ignore[assignment]
        line = out.readline()
        if not line:
            raise RuntimeError(f"bench child exited ({self.proc.wait()})")
        return json.loads(line)

    def ready(self) -> str:
        return str(self._line()["ready"])

    def block(self, n: int) -> list[float]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{n}\n")
        self.proc.stdin.flush()
        answer = self._line()
        got = [float(x) for x in answer["ms"]]
        self.samples += got
        self.cpu_ms += float(answer["cpu_ms"])
        return got

    def close(self) -> None:
        if self.proc.stdin is not None and self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def run(blocks: int = 30, per_block: int = 10) -> list[dict[str, Any]]:
    from devhost.azurite import start_azurite

    azurite = start_azurite()
    sink = _Sink()
    otlp = f"http://127.0.0.1:{sink.port}"
    off, on = _Side(azurite.connection_string, None), _Side(azurite.connection_string, otlp)
    try:
        modes = (off.ready(), on.ready())
        assert modes[0] == "none" and modes[1] == "otlp", modes
        pairs: list[float] = []  # p50 on / p50 off of each adjacent pair of blocks
        for i in range(blocks):
            first, second = (off, on) if i % 2 == 0 else (on, off)  # ABBA: order effects cancel
            a, b = first.block(per_block), second.block(per_block)
            o, t = (a, b) if first is off else (b, a)
            pairs.append(statistics.median(t) / statistics.median(o))
    finally:
        on.close()
        off.close()
        sink.stop()
        azurite.stop()
    n = len(on.samples)
    note = (f"{n} deliveries each side, {blocks} interleaved blocks of {per_block} in two long-lived processes "
            f"(after {WARMUP} warm-up each); median per-block p50 ratio {statistics.median(pairs):.3f}; "
            f"on = OTLP/HTTP export to a local sink ({sum(sink.requests.values())} requests: "
            f"{', '.join(f'{k} {v}' for k, v in sorted(sink.requests.items()))}), azure-core + requests "
            "instrumented, scrubbing")
    rows = []
    for p in (50, 99):
        o, r = _pct(on.samples, p), _pct(off.samples, p)
        rows.append({"benchmark": f"webhook to 202 (5 KB push), tracing on vs off, p{p}", "ours": round(o, 2),
                     "reference": round(r, 2), "ratio": round(o / r, 3) if r else None,
                     "target": "<= 1.10" if p == 50 else "", "unit": "ms", "note": note})
    cpu_on, cpu_off = on.cpu_ms / n, off.cpu_ms / len(off.samples)
    rows.append({"benchmark": "webhook to 202, tracing on vs off, CPU per delivery", "ours": round(cpu_on, 2),
                 "reference": round(cpu_off, 2), "ratio": round(cpu_on / cpu_off, 3), "target": "", "unit": "ms",
                 "note": "process CPU time (all threads: the batch exporters too) over the measured blocks"})
    rows.append({"benchmark": "webhook to 202, tracing on, mean", "ours": round(statistics.mean(on.samples), 2),
                 "reference": round(statistics.mean(off.samples), 2),
                 "ratio": round(statistics.mean(on.samples) / statistics.mean(off.samples), 3), "target": "",
                 "unit": "ms", "note": "mean of the same samples"})
    return rows


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        _child(sys.argv[2])
    else:
        from bench.__main__ import print_table

        args = [int(a) for a in sys.argv[1:3]]
        print_table(run(*args))
