"""The local development host serves the FunctionApp's routes and runs its queue triggers."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import azure.functions as func
import pytest

from devhost.azurite import Azurite, free_port
from devhost.host import FunctionHost, _route_regex


def make_app(queue: str, seen: list[bytes], fail: set[str]) -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="things/{name}/start", methods=["POST"])
    def start(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(json.dumps({"name": req.route_params["name"], "q": req.params.get("q"),
                                             "body": req.get_body().decode()}), mimetype="application/json")

    @app.route(route="things/{id?}", methods=["GET"])
    def get(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(json.dumps({"id": req.route_params.get("id")}), mimetype="application/json")

    @app.queue_trigger(arg_name="msg", queue_name=queue, connection="AzureWebJobsStorage")
    def work(msg: func.QueueMessage) -> None:
        body = msg.get_body()
        if body.decode() in fail:
            raise RuntimeError("poison")
        seen.append(body)

    return app


def test_route_templates() -> None:
    assert _route_regex("deployments/{id}/approve").match("deployments/abc/approve")
    assert _route_regex("things/{id?}").match("things")
    assert _route_regex("a/{x:int}").match("a/5")


def test_http_routes_methods_and_params() -> None:
    host = FunctionHost(make_app("q", [], set()), {})
    status, _, body = host.dispatch("POST", "http://h/api/things/t1/start?q=7", {}, b"hi")
    assert status == 200 and json.loads(body) == {"name": "t1", "q": "7", "body": "hi"}
    assert json.loads(host.dispatch("GET", "http://h/api/things", {}, b"")[2]) == {"id": None}
    assert host.dispatch("DELETE", "http://h/api/things/t1/start", {}, b"")[0] == 405
    assert host.dispatch("GET", "http://h/api/nothing", {}, b"")[0] == 404


def test_serves_real_http() -> None:
    host = FunctionHost(make_app("q", [], set()), {})
    port = free_port()
    host.serve_http("127.0.0.1", port)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/things/x") as r:
            assert json.loads(r.read()) == {"id": "x"}
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/missing")
        assert info.value.code == 404
    finally:
        host.stop()


def test_queue_trigger_runs_and_poison_after_max_dequeue(azurite: Azurite, unique_prefix: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    queue = f"{unique_prefix}-work"
    seen: list[bytes] = []
    host = FunctionHost(make_app(queue, seen, {"bad"}),
                        {"extensions": {"queues": {"maxDequeueCount": 2, "visibilityTimeout": "00:00:01"}}})
    client = host._queue_client(queue)
    client.create_queue()
    client.send_message(b"good")
    client.send_message(b"bad")
    name, q, fn, arg = host.queues[0]
    deadline = time.monotonic() + 20
    poison = host._queue_client(f"{queue}-poison")
    while time.monotonic() < deadline:
        host.process_queue_once(name, q, fn, arg)
        try:
            poisoned = [m.content for m in poison.peek_messages()]
        except Exception:
            poisoned = []
        if seen and poisoned:
            break
        threading.Event().wait(0.05)
    assert seen == [b"good"]
    assert poisoned == [b"bad"]
