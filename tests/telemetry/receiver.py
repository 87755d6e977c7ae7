"""Local telemetry receivers on free ports: OTLP/HTTP (protobuf, decoded with opentelemetry-proto)
and the Application Insights ingestion endpoint (``/v2.1/track``, JSON envelopes, maybe gzip)."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from devhost.azurite import free_port
from tests.polling import wait_until


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


def attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in kvs}


class _Server:
    def __init__(self, handle: Callable[[str, bytes, dict[str, str]], tuple[int, bytes, str]]) -> None:
        self.port = free_port()
        self.raw: list[bytes] = []  # every decoded request body, to search for secrets
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                owner.raw.append(body)
                status, out, ctype = handle(self.path, body, dict(self.headers.items()))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait(self, predicate: Callable[[], bool], timeout: float = 60) -> None:
        wait_until(predicate, timeout, "the receiver to get what was expected", interval=0.2)


class OtlpReceiver(_Server):
    """Decodes ``/v1/traces``, ``/v1/metrics`` and ``/v1/logs``; spans, metric points, log records as dicts."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.points: list[dict[str, Any]] = []
        self.logs: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        super().__init__(self._handle)

    def _handle(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, str]:
        if headers.get("Content-Type") != "application/x-protobuf":
            return 415, b"", "text/plain"
        if path == "/v1/traces":
            req = ExportTraceServiceRequest.FromString(body)
            with self._lock:
                for rs in req.resource_spans:
                    resource = attrs(rs.resource.attributes)
                    for ss in rs.scope_spans:
                        for s in ss.spans:
                            self.spans.append({
                                "trace_id": s.trace_id.hex(), "span_id": s.span_id.hex(),
                                "parent_id": s.parent_span_id.hex() or None, "name": s.name,
                                "kind": Span.SpanKind.Name(s.kind), "attributes": attrs(s.attributes),
                                "links": [(lk.trace_id.hex(), attrs(lk.attributes)) for lk in s.links],
                                "status": s.status.code, "scope": ss.scope.name, "resource": resource,
                                "start": s.start_time_unix_nano, "end": s.end_time_unix_nano})
            return 200, ExportTraceServiceResponse().SerializeToString(), "application/x-protobuf"
        if path == "/v1/metrics":
            req = ExportMetricsServiceRequest.FromString(body)
            with self._lock:
                for rm in req.resource_metrics:
                    for sm in rm.scope_metrics:
                        for m in sm.metrics:
                            kind = m.WhichOneof("data")
                            for p in getattr(m, kind).data_points:
                                value = p.count if kind == "histogram" else (p.as_int or p.as_double)
                                self.points.append({"name": m.name, "kind": kind, "unit": m.unit,
                                                    "attributes": attrs(p.attributes), "value": value})
            return 200, ExportMetricsServiceResponse().SerializeToString(), "application/x-protobuf"
        if path == "/v1/logs":
            req = ExportLogsServiceRequest.FromString(body)
            with self._lock:
                for rl in req.resource_logs:
                    for sl in rl.scope_logs:
                        for r in sl.log_records:
                            self.logs.append({"trace_id": r.trace_id.hex() or None, "span_id": r.span_id.hex() or None,
                                              "body": _value(r.body), "severity": r.severity_text,
                                              "attributes": attrs(r.attributes), "scope": sl.scope.name})
            return 200, ExportLogsServiceResponse().SerializeToString(), "application/x-protobuf"
        return 404, b"", "text/plain"

    def spans_of(self, trace_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [s for s in self.spans if s["trace_id"] == trace_id]

    def metric(self, name: str, **where: Any) -> list[dict[str, Any]]:
        with self._lock:
            return [p for p in self.points if p["name"] == name
                    and all(p["attributes"].get(k) == v for k, v in where.items())]


class AppInsightsReceiver(_Server):
    """The ingestion endpoint of a connection string: envelopes (one JSON per line or an array)."""

    def __init__(self) -> None:
        self.envelopes: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        super().__init__(self._handle)

    def _handle(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, str]:
        if not path.startswith("/v2.1/track"):
            return 404, b"", "text/plain"
        text = body.decode()
        items = json.loads(text) if text.lstrip().startswith("[") else [json.loads(x) for x in text.splitlines()
                                                                         if x.strip()]
        with self._lock:
            self.envelopes += items
        answer = {"itemsReceived": len(items), "itemsAccepted": len(items), "errors": []}
        return 200, json.dumps(answer).encode(), "application/json"

    def of_type(self, base_type: str) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.envelopes if e.get("data", {}).get("baseType") == base_type]
