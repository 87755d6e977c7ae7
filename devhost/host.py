"""A small local development host for the project's ``FunctionApp`` (SPEC section 9).

Azure Functions Core Tools cannot be installed everywhere, so this host reads
the registered functions (``app.get_functions()``) and:

* serves every HTTP trigger on ``http://HOST:PORT/api/<route>`` with its declared
  methods and route parameters (``{name}``, ``{name?}``, ``{name:constraint}``);
* polls the Azurite queues of queue triggers, honouring ``maxDequeueCount`` and
  moving poisoned messages to ``<queue>-poison`` as ``host.json`` configures;
* runs timer triggers on their NCRONTAB schedules (UTC, like the Linux host).

The handlers are the same code the real host runs. Function keys are not
enforced locally, as with Core Tools.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .invocation import context_kwargs

log = logging.getLogger("devhost")
ROOT = Path(__file__).resolve().parent.parent


def _resolve(value: str) -> str:
    """``%SETTING%`` binding expressions resolve from the app settings (the environment)."""
    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name == "DATAOPS_DEPLOY_QUEUE":
            from shared.settings import Settings

            return Settings.from_env().names.deploy_queue
        return os.environ.get(name, "")
    return re.sub(r"%([^%]+)%", sub, value)


def _route_regex(route: str) -> re.Pattern[str]:
    out = ""
    pos = 0
    for m in re.finditer(r"/?\{([A-Za-z_][A-Za-z0-9_]*)(?::[^}?]+)?(\?)?\}", route):
        out += re.escape(route[pos:m.start()])
        slash = "/" if m.group(0).startswith("/") else ""
        name, optional = m.group(1), m.group(2)
        piece = f"{re.escape(slash)}(?P<{name}>[^/]+)"
        out += f"(?:{piece})?" if optional else piece
        pos = m.end()
    out += re.escape(route[pos:])
    return re.compile("^" + out.strip("/") + "/?$")


class HttpRoute:
    def __init__(self, name: str, route: str, methods: list[str], fn: Any, arg: str) -> None:
        self.name, self.route, self.fn, self.arg = name, route, fn, arg
        self.methods = {m.upper() for m in methods} or {"GET", "POST", "PUT", "DELETE", "PATCH"}
        self.regex = _route_regex(route)
        self.literal = len(re.sub(r"\{[^}]*\}", "", route))


_INDEXED: dict[int, tuple[Any, list[Any]]] = {}


def functions_of(app: Any) -> list[Any]:
    """``app.get_functions()``, once per app object: azure-functions refuses to index an app twice."""
    key = id(app)
    if key not in _INDEXED or _INDEXED[key][0] is not app:
        _INDEXED[key] = (app, app.get_functions())
    return _INDEXED[key][1]


class FunctionHost:
    def __init__(self, app: Any, host_json: dict[str, Any] | None = None) -> None:
        self.app = app
        cfg = (host_json or {}).get("extensions", {})
        self.prefix = cfg.get("http", {}).get("routePrefix", "api").strip("/")
        q = cfg.get("queues", {})
        self.max_dequeue = int(q.get("maxDequeueCount", 5))
        self.batch_size = int(q.get("batchSize", 16))
        self.visibility = _timespan(q.get("visibilityTimeout", "00:00:30"), 30)
        self.poll = _timespan(q.get("maxPollingInterval", "00:00:02"), 2)
        self.routes: list[HttpRoute] = []
        self.queues: list[tuple[str, str, Any, str]] = []  # (function, queue, fn, arg)
        self.timers: list[tuple[str, str, Any, str, bool]] = []
        for f in functions_of(app):
            trig = f.get_trigger()
            d = trig.get_dict_repr()
            fn, name = f.get_user_function(), f.get_function_name()
            if d["type"] == "httpTrigger":
                methods = [getattr(m, "value", m) for m in d.get("methods") or []]
                self.routes.append(HttpRoute(name, d.get("route") or name, methods, fn, d["name"]))
            elif d["type"] == "queueTrigger":
                self.queues.append((name, _resolve(d["queueName"]), fn, d["name"]))
            elif d["type"] == "timerTrigger":
                self.timers.append((name, d["schedule"], fn, d["name"], bool(d.get("runOnStartup"))))
        # Most specific routes first (more literal characters).
        self.routes.sort(key=lambda r: -r.literal)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.server: ThreadingHTTPServer | None = None
        self.local_principal: Any = None  # devhost.easyauth.LocalPrincipal: who the front end signs in

    # ---------------------------------------------------------------- HTTP
    def dispatch(self, method: str, url: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        import azure.functions as func

        parts = urlsplit(url)
        path = parts.path.strip("/")
        if not path.startswith(self.prefix + "/") and path != self.prefix:
            return 404, {"Content-Type": "application/json"}, b'{"error":"not_found","message":"no such route"}'
        sub = path[len(self.prefix):].strip("/")
        allowed: set[str] = set()
        for r in self.routes:
            m = r.regex.match(sub)
            if not m:
                continue
            if method.upper() not in r.methods:
                allowed |= r.methods
                continue
            params = {k: v for k, v in m.groupdict().items() if v is not None}
            req = func.HttpRequest(method.upper(), url, headers=headers,
                                   params=dict(parse_qsl(parts.query)), route_params=params, body=body)
            try:
                resp = r.fn(**{r.arg: req}, **context_kwargs(r.fn, r.name, str(ROOT), headers=headers))
            except Exception:
                log.exception("function %s failed", r.name)
                return 500, {"Content-Type": "application/json"}, \
                    b'{"error":"internal","message":"the function failed; see the host log"}'
            out_headers = dict(resp.headers.items()) if resp.headers else {}
            if resp.mimetype and "Content-Type" not in out_headers:
                out_headers["Content-Type"] = f"{resp.mimetype}; charset={resp.charset or 'utf-8'}"
            return resp.status_code, out_headers, resp.get_body() or b""
        if allowed:
            return 405, {"Content-Type": "application/json", "Allow": ", ".join(sorted(allowed))}, \
                json.dumps({"error": "method_not_allowed", "message": f"{method} is not allowed here"}).encode()
        return 404, {"Content-Type": "application/json"}, b'{"error":"not_found","message":"no such route"}'

    def serve_http(self, host: str = "127.0.0.1", port: int = 7071) -> ThreadingHTTPServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                url = f"http://{self.headers.get('Host', f'{host}:{port}')}{self.path}"
                from devhost.easyauth import front_end  # App Service Authentication in front of the app

                status, headers, data = owner.dispatch(self.command, url, front_end(
                    dict(self.headers.items()), owner.local_principal), body)
                self.send_response(status)
                for k, v in headers.items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

            def log_message(self, fmt: str, *args: Any) -> None:
                log.debug("%s - " + fmt, self.address_string(), *args)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        t = threading.Thread(target=self.server.serve_forever, name="devhost-http", daemon=True)
        t.start()
        self._threads.append(t)
        return self.server

    # --------------------------------------------------------------- queues
    def _queue_client(self, queue: str) -> Any:
        from azure.storage.queue import (
            BinaryBase64DecodePolicy,
            BinaryBase64EncodePolicy,
            QueueClient,
        )

        conn = os.environ.get("AzureWebJobsStorage")
        if not conn:
            raise RuntimeError("AzureWebJobsStorage is not set")
        return QueueClient.from_connection_string(conn, queue, message_encode_policy=BinaryBase64EncodePolicy(),
                                                  message_decode_policy=BinaryBase64DecodePolicy())

    def process_queue_once(self, function: str, queue: str, fn: Any, arg: str) -> int:
        """Receive one batch and run the function on each message; returns how many were handled."""
        from azure.core.exceptions import ResourceExistsError
        from azure.functions.queue import QueueMessage

        client = self._queue_client(queue)
        try:
            client.create_queue()
        except ResourceExistsError:
            pass
        handled = 0
        for msg in client.receive_messages(messages_per_page=self.batch_size,
                                           visibility_timeout=max(1, int(self.visibility)), max_messages=self.batch_size):
            handled += 1
            body = msg.content if isinstance(msg.content, bytes) else str(msg.content).encode()
            if msg.dequeue_count > self.max_dequeue:
                self._poison(queue, body)
                client.delete_message(msg)
                continue
            qm = QueueMessage(id=msg.id, body=body, dequeue_count=msg.dequeue_count,
                                   insertion_time=msg.inserted_on, expiration_time=msg.expires_on,
                                   pop_receipt=msg.pop_receipt)
            try:
                fn(**{arg: qm}, **context_kwargs(fn, function, str(ROOT), attempt=msg.dequeue_count - 1,
                                                 max_attempts=self.max_dequeue))
            except Exception:
                log.exception("queue function %s failed (attempt %s)", function, msg.dequeue_count)
                if msg.dequeue_count >= self.max_dequeue:
                    self._poison(queue, body)
                    client.delete_message(msg)
                else:
                    client.update_message(msg, visibility_timeout=0)
                continue
            client.delete_message(msg)
        return handled

    def _poison(self, queue: str, body: bytes) -> None:
        from azure.core.exceptions import ResourceExistsError

        poison = self._queue_client(f"{queue}-poison")
        try:
            poison.create_queue()
        except ResourceExistsError:
            pass
        poison.send_message(body)
        log.warning("message moved to %s-poison", queue)

    def _queue_loop(self, function: str, queue: str, fn: Any, arg: str) -> None:
        while not self._stop.is_set():
            try:
                n = self.process_queue_once(function, queue, fn, arg)
            except Exception:
                log.exception("polling %s failed", queue)
                n = 0
            if n == 0:
                self._stop.wait(min(self.poll, 0.5))

    # --------------------------------------------------------------- timers
    def _timer_loop(self, function: str, schedule: str, fn: Any, arg: str, on_startup: bool) -> None:
        import azure.functions.timer as ftimer

        from shared import ncrontab

        cron = ncrontab.parse(schedule)
        last = datetime.now(UTC)
        if on_startup:
            self._run_timer(function, fn, arg, ftimer.TimerRequest(past_due=False))
        while not self._stop.is_set():
            nxt = cron.next_after("UTC", last) or (last + timedelta(days=1))
            wait = (nxt - datetime.now(UTC)).total_seconds()
            if wait > 0 and self._stop.wait(min(wait, 60)):
                return
            if datetime.now(UTC) < nxt:
                continue
            past_due = (datetime.now(UTC) - nxt).total_seconds() > 60
            self._run_timer(function, fn, arg, ftimer.TimerRequest(past_due=past_due))
            last = nxt

    def _run_timer(self, function: str, fn: Any, arg: str, req: Any) -> None:
        try:
            fn(**{arg: req}, **context_kwargs(fn, function, str(ROOT)))
        except Exception:
            log.exception("timer function %s failed", function)

    def start_background(self, *, queues: bool = True, timers: bool = True) -> None:
        if queues:
            for item in self.queues:
                t = threading.Thread(target=self._queue_loop, args=item, name=f"queue-{item[0]}", daemon=True)
                t.start()
                self._threads.append(t)
        if timers:
            for item in self.timers:
                t = threading.Thread(target=self._timer_loop, args=item, name=f"timer-{item[0]}", daemon=True)
                t.start()
                self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def describe(self) -> list[str]:
        lines = [f"  {sorted(r.methods)} /{self.prefix}/{r.route}  ({r.name})" for r in
                 sorted(self.routes, key=lambda r: r.route)]
        lines += [f"  queue {q}  ({n})" for n, q, _, _ in self.queues]
        lines += [f"  timer {s}  ({n})" for n, s, _, _, _ in self.timers]
        return lines


def _timespan(value: str, default: float) -> float:
    try:
        h, m, s = value.split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)
    except (ValueError, AttributeError):
        return default


def load_settings_file(path: Path) -> None:
    """Export ``Values`` of local.settings.json into the environment (without overriding)."""
    if path.exists():
        values = json.loads(path.read_text()).get("Values", {})
        for k, v in values.items():
            os.environ.setdefault(k, str(v))


def load_app(app_dir: Path = ROOT) -> FunctionHost:
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
    import importlib

    module = importlib.import_module("function_app")
    host_json = json.loads((app_dir / "host.json").read_text())
    return FunctionHost(module.app, host_json)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--no-queues", action="store_true")
    parser.add_argument("--no-timers", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # The Azure SDKs log every HTTP request at INFO: keep the host log readable.
    for noisy in ("azure", "urllib3", "databricks.sdk"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    load_settings_file(ROOT / "local.settings.json")
    from devhost.easyauth import local_principal_from_env

    principal = local_principal_from_env()
    host = load_app()
    host.local_principal = principal
    host.serve_http(args.host, args.port)
    host.start_background(queues=not args.no_queues, timers=not args.no_timers)
    print(f"Functions dev host on http://{args.host}:{args.port}/{host.prefix}/", flush=True)
    if principal is not None:
        print(f"  App Service Authentication stand-in: every request signed in as {principal.name}", flush=True)
    for line in host.describe():
        print(line, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        host.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
