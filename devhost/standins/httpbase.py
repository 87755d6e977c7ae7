"""A small threaded HTTP(S) server base for the local stand-ins (stdlib only).

Usage::

    server = StandInServer(name="my-standin")           # 127.0.0.1, free port
    @server.route("GET", r"/api/items/(?P<id>[^/]+)", name="items.get")
    def get_item(req: Request) -> Response:
        return json_response({"id": req.match["id"]})
    server.start()          # serves in a daemon thread; server.url is http://127.0.0.1:PORT
    ...
    server.stop()

* HTTP/1.1 with keep-alive (every response carries Content-Length); one thread per connection.
* ``ssl_context`` (a server-side ``ssl.SSLContext``) serves HTTPS; the TLS handshake runs in
  the connection's thread so a slow client never blocks the accept loop.
* Routes are (method, full-match path regex); named groups land in ``Request.match``.
* Handlers return a :class:`Response` or raise :class:`HttpError`; any other exception becomes a
  500 rendered by ``error_body`` (the stand-in's own error shape), never a hang.
* ``authenticate`` (optional) runs before each handler and may return an error Response.
* Every routed request goes through the :class:`~devhost.standins.faults.FaultInjector`
  (``server.faults``) and is counted in ``server.counters`` under its route name; requests that
  match no route are counted as ``"unrouted"`` and answered 404.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import ssl
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .faults import Fault, FaultInjector, RequestCounters, RequestInfo

__all__ = ["HttpError", "Request", "Response", "StandInServer", "json_response"]

log = logging.getLogger(__name__)


@dataclass
class Request:
    """An incoming request as handlers see it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    route: str = "unrouted"
    match: dict[str, str] = field(default_factory=dict)

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter ``name``."""
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        """The body as JSON; an empty body is ``{}``; invalid JSON raises a 400 HttpError."""
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise HttpError(400, "MALFORMED_REQUEST", f"Invalid JSON body: {exc}") from exc

    def info(self) -> RequestInfo:
        return RequestInfo(self.method, self.path, self.route, self.query, self.headers, self.body)


@dataclass
class Response:
    """A response to send; ``body`` is bytes, ``headers`` excludes Content-Length."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response."""
    return Response(status, json.dumps(obj).encode(), "application/json", dict(headers or {}))


class HttpError(Exception):
    """Raised by handlers: rendered with the server's ``error_body`` unless ``body`` is given."""

    def __init__(self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None,
                 body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.body = body


ErrorBody = Callable[[int, str, str], Any]
Handler = Callable[[Request], Response]


def default_error_body(status: int, code: str, message: str) -> Any:
    """``{"error": {"code": ..., "message": ...}}`` (ARM-like); stand-ins pass their own."""
    return {"error": {"code": code, "message": message}}


@dataclass(frozen=True)
class _Route:
    method: str
    regex: re.Pattern[str]
    handler: Handler
    name: str


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    standin: StandInServer

    def finish_request(self, request: Any, client_address: Any) -> None:
        ctx = self.standin.ssl_context
        if ctx is not None:
            try:
                request = ctx.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                log.debug("TLS handshake failed from %s: %s", client_address, exc)
                return
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Client disconnects are normal under load tests; keep stderr quiet.
        log.debug("connection error from %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY, Nagle plus the
    # client's delayed ACK adds ~40 ms to every keep-alive response.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # trailer section ends with an empty line
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        standin = self.server.standin
        parts = urlsplit(self.path)
        body = self._read_body()
        req = Request(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                      {k.lower(): v for k, v in self.headers.items()}, body)
        response = standin.handle(req)
        # Count before sending: a client that has its answer must see it counted.
        standin.counters.record(req.route, response.status)
        if response.status == 0:  # an injected connection reset: RST, no answer
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            return
        self._send(response)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.body or response.status not in (204, 304):
            self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch


class StandInServer:
    """The base every stand-in builds on: routes, auth hook, faults, counters, lifecycle."""

    def __init__(self, *, name: str = "standin", host: str = "127.0.0.1", port: int = 0,
                 ssl_context: ssl.SSLContext | None = None, faults: FaultInjector | None = None,
                 error_body: ErrorBody = default_error_body,
                 authenticate: Callable[[Request], Response | None] | None = None) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.faults = faults if faults is not None else FaultInjector()
        self.counters = RequestCounters()
        self.error_body = error_body
        self.authenticate = authenticate
        self._routes: list[_Route] = []
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- routes ---------------------------------------------------------------------------
    def add_route(self, method: str, pattern: str, handler: Handler, name: str | None = None) -> None:
        """Route ``method`` (or ``"*"``) and paths fully matching ``pattern`` to ``handler``."""
        self._routes.append(_Route(method.upper(), re.compile(pattern), handler,
                                   name or f"{method.upper()} {pattern}"))

    def route(self, method: str, pattern: str, name: str | None = None) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`add_route`."""
        def register(handler: Handler) -> Handler:
            self.add_route(method, pattern, handler, name)
            return handler
        return register

    def error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None,
              body: Any = None) -> Response:
        """An error response in this stand-in's shape."""
        payload = body if body is not None else self.error_body(status, code, message)
        return json_response(payload, status, headers)

    def fault_response(self, fault: Fault) -> Response:
        return self.error(fault.status, fault.code, fault.message, fault.headers)

    def handle(self, req: Request) -> Response:
        """Route, inject faults, authenticate and run the handler (also usable without sockets)."""
        allowed = False
        for route in self._routes:
            m = route.regex.fullmatch(req.path)
            if m is None:
                continue
            if route.method not in ("*", req.method):
                allowed = True
                continue
            req.route = route.name
            req.match = {k: v for k, v in m.groupdict().items() if v is not None}
            try:
                fault = self.faults.apply(req.info())
                if fault is not None and fault.status == -1:  # carried out, then the answer is lost
                    denied = self.authenticate(req) if self.authenticate is not None else None
                    if denied is None:
                        route.handler(req)
                    return Response(0)
                if fault is not None:
                    return Response(0) if fault.status == 0 else self.fault_response(fault)
                if self.authenticate is not None:
                    denied = self.authenticate(req)
                    if denied is not None:
                        return denied
                return route.handler(req)
            except HttpError as exc:
                return self.error(exc.status, exc.code, exc.message, exc.headers, exc.body)
            except Exception as exc:  # a stand-in bug must still answer, not hang the client
                log.exception("%s: handler %s failed", self.name, route.name)
                return self.error(500, "INTERNAL_ERROR", f"{type(exc).__name__}: {exc}")
        if allowed:
            return self.error(405, "METHOD_NOT_ALLOWED", f"{req.method} is not allowed on {req.path}")
        return self.error(404, "ENDPOINT_NOT_FOUND", f"No API found for '{req.method} {req.path}'")

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> StandInServer:
        """Bind and serve in a daemon thread; returns self. ``port`` is the bound port after this."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        server_cls = type("_BoundServer", (_Server,), {"address_family": family})
        self._httpd = server_cls((self.host, self.port), _Handler)
        self._httpd.standin = self
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"{self.name}:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def serve_forever(self) -> None:
        """Run in the foreground until interrupted (for ``python -m`` entry points)."""
        self.start()
        assert self._thread is not None
        try:
            while self._thread.is_alive():
                self._thread.join(timeout=0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    @property
    def url(self) -> str:
        """Base URL (no trailing slash); the port is omitted when it is the scheme's default."""
        scheme = "https" if self.ssl_context is not None else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if scheme == "https" else 80
        return f"{scheme}://{host}" if self.port == default else f"{scheme}://{host}:{self.port}"

    def __enter__(self) -> StandInServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ServedStandIn:
    """Lifecycle and fault/counter accessors shared by the stand-ins (each holds a ``server``)."""

    server: StandInServer

    def start(self) -> Any:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def faults(self) -> Any:
        return self.server.faults

    @property
    def counters(self) -> Any:
        return self.server.counters
