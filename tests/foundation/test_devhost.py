"""The dev host serves and runs a FunctionApp as the Azure Functions host does (docs/standin-host.md)."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
import pytest

from devhost.azurite import Azurite, free_port
from devhost.host import FunctionHost
from tests.polling import wait_until


def http_app() -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="things/{name}/start", methods=["POST"])
    def start(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(json.dumps({"name": req.route_params["name"], "q": req.params.get("q"),
                                             "body": req.get_body().decode()}), mimetype="application/json")

    @app.route(route="things/{id?}", methods=["GET"])
    def get(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(json.dumps({"id": req.route_params.get("id")}), mimetype="application/json")

    @app.route(route="things/special", methods=["GET"])
    def special(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("special")

    @app.route(route="items/{n:int}", methods=["GET"])
    def item(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(req.route_params["n"])

    @app.route(route="boom", methods=["GET"])
    def boom(req: func.HttpRequest) -> func.HttpResponse:
        raise RuntimeError("bug")

    return app


def test_routes_are_case_insensitive_with_params_constraints_and_precedence() -> None:
    host = FunctionHost(http_app(), {})
    status, _, body = host.dispatch("POST", "http://h/API/Things/T1/START?q=7", {}, b"hi")
    assert status == 200 and json.loads(body) == {"name": "T1", "q": "7", "body": "hi"}  # values keep case
    assert json.loads(host.dispatch("GET", "http://h/api/things", {}, b"")[2]) == {"id": None}
    assert host.dispatch("GET", "http://h/api/things/special", {}, b"")[2] == b"special"  # literal first
    assert host.dispatch("GET", "http://h/api/THINGS/Special", {}, b"")[2] == b"special"
    assert json.loads(host.dispatch("GET", "http://h/api/things/other", {}, b"")[2]) == {"id": "other"}
    assert host.dispatch("GET", "http://h/api/items/42", {}, b"")[2] == b"42"
    assert host.dispatch("GET", "http://h/api/items/x", {}, b"")[0] == 404  # {n:int} does not match


def test_no_route_or_an_undeclared_method_is_the_hosts_empty_404_and_a_crash_an_empty_500() -> None:
    host = FunctionHost(http_app(), {})
    assert host.dispatch("DELETE", "http://h/api/things/t1/start", {}, b"") == (404, {}, b"")
    assert host.dispatch("HEAD", "http://h/api/things/special", {}, b"") == (404, {}, b"")  # GET only
    assert host.dispatch("GET", "http://h/api/nothing", {}, b"") == (404, {}, b"")
    assert host.dispatch("GET", "http://h/things", {}, b"") == (404, {}, b"")  # outside routePrefix
    assert host.dispatch("GET", "http://h/api/boom", {}, b"") == (500, {}, b"")


def test_serves_real_http() -> None:
    host = FunctionHost(http_app(), {})
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


def test_an_unresolvable_binding_puts_only_that_function_in_error() -> None:
    app = http_app()

    @app.queue_trigger(arg_name="msg", queue_name="%NO_SUCH_SETTING%", connection="AzureWebJobsStorage")
    def work(msg: func.QueueMessage) -> None:
        pass

    host = FunctionHost(app, {}, environ={})
    assert host.errors == {"work": "'%NO_SUCH_SETTING%' does not resolve to a value."}
    assert host.dispatch("GET", "http://h/api/things/special", {}, b"")[0] == 200
    assert host.queues == []


# ---------------------------------------------------------------- queues
class Recorder:
    def __init__(self, work: float | dict[bytes, float] = 0.0, fail: set[bytes] | None = None) -> None:
        self.work, self.fail = work, fail or set()
        self.calls: list[tuple[bytes, int, float]] = []
        self.running = 0
        self.max_running = 0
        self.lock = threading.Lock()

    def __call__(self, msg: func.QueueMessage) -> None:
        with self.lock:
            self.calls.append((msg.get_body(), msg.dequeue_count, time.monotonic()))
            self.running += 1
            self.max_running = max(self.max_running, self.running)
        try:
            work = self.work.get(msg.get_body(), 0.5) if isinstance(self.work, dict) else self.work
            if work:
                time.sleep(work)  # the function's own work (a deployment), not a test wait
            if msg.get_body() in self.fail:
                raise RuntimeError("fails")
        finally:
            with self.lock:
                self.running -= 1


def queue_app(queue: str, rec: Recorder) -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.queue_trigger(arg_name="msg", queue_name="%WORK_QUEUE%", connection="AzureWebJobsStorage")
    def work(msg: func.QueueMessage) -> None:
        rec(msg)

    return app


@pytest.fixture
def queue_env(azurite: Azurite, unique_prefix: str) -> dict[str, str]:
    return {"AzureWebJobsStorage": azurite.connection_string, "WORK_QUEUE": f"{unique_prefix}-Work"}


def make_host(env: dict[str, str], rec: Recorder, queues: dict[str, Any], **kw: Any) -> FunctionHost:
    return FunctionHost(queue_app(env["WORK_QUEUE"], rec), {"extensions": {"queues": queues}}, environ=env, **kw)


@pytest.fixture
def running() -> Iterator[list[FunctionHost]]:
    hosts: list[FunctionHost] = []
    yield hosts
    for h in hosts:
        h.stop()


def poisoned(host: FunctionHost) -> list[str]:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return [m.content for m in host.queue_client(f"{host.queues[0].queue}-poison").peek_messages(32)]
    except ResourceNotFoundError:
        return []


def test_queue_name_is_resolved_lowercased_and_poison_after_max_dequeue(queue_env: dict[str, str]) -> None:
    rec = Recorder(fail={b"bad"})
    host = make_host(queue_env, rec, {"maxDequeueCount": 2})
    listener = host.listener("work")
    assert listener.queue == queue_env["WORK_QUEUE"].lower()
    assert listener.poison == f"{listener.queue}-poison"
    host.send(listener.queue, b"good")
    host.send(listener.queue, b"bad")
    wait_until(lambda: listener.process_once() == 0 and poisoned(host), what="the bad message poisoned")
    assert sorted((b, n) for b, n, _ in rec.calls) == [(b"bad", 1), (b"bad", 2), (b"good", 1)]
    assert [base64.b64decode(c) for c in poisoned(host)] == [b"bad"]  # copied as it was (base64)


def test_a_failed_message_is_retried_after_visibility_timeout(queue_env: dict[str, str], running) -> None:
    rec = Recorder(fail={b"flaky"})
    host = make_host(queue_env, rec, {"maxDequeueCount": 3, "visibilityTimeout": "00:00:02",
                                      "maxPollingInterval": "00:00:00.200"})
    running.append(host)
    host.send(host.listener("work").queue, b"flaky")
    host.start_background()
    wait_until(lambda: len(rec.calls) >= 2, what="a retry")
    (_, n1, t1), (_, n2, t2) = rec.calls[:2]
    assert (n1, n2) == (1, 2)
    assert t2 - t1 >= 1.5  # not at once: after visibilityTimeout (Azure Storage counts whole seconds)


def test_a_message_is_held_while_the_function_runs_longer_than_its_lease(queue_env: dict[str, str],
                                                                        running) -> None:
    # Two instances; the message lease is 2 s (Azure: 10 min), the function runs 5 s.
    rec = Recorder(work=5.0)
    hosts = [make_host(queue_env, rec, {"maxPollingInterval": "00:00:00.200"}, message_lease=2, instance_id=i)
             for i in ("a", "b")]
    running.extend(hosts)
    hosts[0].send(hosts[0].listener("work").queue, b"long")
    for h in hosts:
        h.start_background()
    wait_until(lambda: rec.calls and rec.running == 0, timeout=30, what="the run to end")
    client = hosts[0].queue_client(hosts[0].listener("work").queue)
    wait_until(lambda: client.get_queue_properties().approximate_message_count == 0, what="the delete")
    assert len(rec.calls) == 1  # renewed while running: never delivered to the other instance
    assert poisoned(hosts[0]) == []


def test_each_instance_runs_up_to_batch_size_plus_new_batch_threshold(queue_env: dict[str, str],
                                                                     running) -> None:
    rec = Recorder(work={b"m0": 2.5})  # the others take 0.5 s
    host = make_host(queue_env, rec, {"batchSize": 2, "newBatchThreshold": 1, "maxPollingInterval": "00:00:00.200"})
    running.append(host)
    assert host.listener("work").concurrency == 3
    for i in range(9):
        host.send(host.listener("work").queue, f"m{i}".encode())
    host.start_background()
    wait_until(lambda: len(rec.calls) == 9 and rec.running == 0, timeout=30, what="all messages")
    assert rec.max_running == 3


def test_default_new_batch_threshold_is_half_the_batch_size() -> None:
    host = FunctionHost(func.FunctionApp(), {"extensions": {"queues": {"batchSize": 4}}}, environ={})
    assert (host.batch_size, host.new_batch_threshold) == (4, 2)
    assert FunctionHost(func.FunctionApp(), {}, environ={}).batch_size == 16


def test_a_message_that_is_not_base64_goes_to_the_poison_queue_unrun(queue_env: dict[str, str]) -> None:
    rec = Recorder()
    host = make_host(queue_env, rec, {})
    listener = host.listener("work")
    client = host.queue_client(listener.queue)
    client.create_queue()
    client.send_message("not base64!")
    assert listener.process_once() == 1
    assert rec.calls == [] and poisoned(host) == ["not base64!"]


def test_message_encoding_none_passes_the_text_as_is(queue_env: dict[str, str]) -> None:
    rec = Recorder()
    host = make_host(queue_env, rec, {"messageEncoding": "none"})
    host.send(host.listener("work").queue, b'{"plain": true}')
    assert host.listener("work").process_once() == 1
    assert rec.calls[0][0] == b'{"plain": true}'


# ---------------------------------------------------------------- timers
def timer_app(schedule: str, calls: list[func.TimerRequest], *, run_on_startup: bool = False,
              use_monitor: bool = False) -> func.FunctionApp:
    app = func.FunctionApp()

    @app.timer_trigger(schedule=schedule, arg_name="timer", run_on_startup=run_on_startup, use_monitor=use_monitor)
    def tick(timer: func.TimerRequest) -> None:
        calls.append(timer)

    return app


FAST_SINGLETON = {"singleton": {"listenerLockPeriod": "00:00:15", "listenerLockRecoveryPollingInterval": "00:00:00.2"}}


def test_a_timer_runs_on_one_instance_only_and_moves_when_it_stops(azurite: Azurite, unique_prefix: str,
                                                                   running) -> None:
    env = {"AzureWebJobsStorage": azurite.connection_string}
    calls: list[list[func.TimerRequest]] = [[], []]
    hosts = [FunctionHost(timer_app("* * * * * *", calls[i]), {**FAST_SINGLETON, "id": unique_prefix}, environ=env)
             for i in range(2)]
    running.extend(hosts)
    for h in hosts:
        h.start_background()
    wait_until(lambda: len(calls[0]) + len(calls[1]) >= 3, what="three ticks")
    first = 0 if calls[0] else 1
    assert not calls[1 - first]  # the other instance waits for the singleton lock
    hosts[first].stop()
    wait_until(lambda: len(calls[1 - first]) >= 2, what="the other instance taking over")


def test_run_on_startup_and_a_missed_occurrence_with_use_monitor(azurite: Azurite, unique_prefix: str,
                                                                 running) -> None:
    env = {"AzureWebJobsStorage": azurite.connection_string}
    startup: list[func.TimerRequest] = []
    host = FunctionHost(timer_app("0 0 3 * * *", startup, run_on_startup=True), {"id": unique_prefix + "a"},
                        environ=env)
    running.append(host)
    host.start_background()
    wait_until(lambda: startup, what="the startup run")
    assert startup[0].past_due is False and host.timers[0].runs[0]["reason"] == "RunOnStartup"

    missed: list[func.TimerRequest] = []
    host2 = FunctionHost(timer_app("0 0 3 * * *", missed, use_monitor=True), {"id": unique_prefix + "b"},
                         environ=env)
    running.append(host2)
    timer = host2.timers[0]
    past = datetime.now(UTC) - timedelta(hours=2)
    timer.write_status({"Last": past - timedelta(days=1), "Next": past, "LastUpdated": past - timedelta(days=1)})
    host2.start_background()
    wait_until(lambda: missed, what="the past-due run")
    assert missed[0].past_due is True
    assert missed[0].schedule_status["Next"] == past.isoformat()
    status = wait_until(lambda: (s := timer.read_status()) and s["Next"] > datetime.now(UTC) and s,
                        what="the status written")
    assert status["Next"].hour == 3 and status["Next"].tzinfo is not None


def test_timer_defaults_and_time_zone() -> None:
    every_5min = FunctionHost(timer_app("0 */5 * * * *", [], use_monitor=None), {}, environ={})  # type: ignore[arg-type]
    assert every_5min.timers[0].use_monitor is True  # more than a minute apart
    assert every_5min.time_zone == "UTC"
    zoned = FunctionHost(timer_app("0 0 9 * * *", []), {}, environ={"WEBSITE_TIME_ZONE": "Europe/Amsterdam"})
    nxt = zoned.timers[0].next_after(datetime(2026, 7, 1, 12, tzinfo=UTC))
    assert nxt == datetime(2026, 7, 2, 7, tzinfo=UTC)  # 09:00 CEST
