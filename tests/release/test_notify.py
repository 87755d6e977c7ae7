"""Notifications delivered to a local HTTP receiver (a stdlib server on a free port), with retries."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from shared.audit.records import DeploymentRecord
from shared.clock import FakeClock
from shared.release.notify import Notifier
from shared.settings import Settings

from .helpers import Flow, make_config


class Receiver:
    """Answers the scripted statuses in order (then 200) and keeps every body it got."""

    def __init__(self) -> None:
        self.script: list[int] = []
        self.bodies: list[dict[str, Any]] = []
        self.retry_after: str | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                status = receiver.script.pop(0) if receiver.script else 200
                self.send_response(status)
                if status == 429 and receiver.retry_after:
                    self.send_header("Retry-After", receiver.retry_after)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook/secret-token-123"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


def _config(repo, kind: str = "webhook", on: list[str] | None = None):  # type: ignore[no-untyped-def]
    return make_config(repo, {"dev": {"deploy_on": ["push"], "notify": [
        {"kind": kind, "url_setting": "HOOK_URL", "on": on or ["waiting_approval", "failed", "succeeded"]}]}})


def _rec() -> DeploymentRecord:
    return DeploymentRecord(id="20260105T120000000Z-dev-notebooks-0123abcd", environment="dev",
                            component="notebooks", commit="a" * 40, actor="ada", status="failed",
                            error="target refused")


def test_webhook_retries_5xx_and_429_with_backoff_then_delivers(repo, ledger, receiver, caplog):
    clock = FakeClock()
    receiver.script = [503, 500, 429]
    receiver.retry_after = "2"
    notifier = Notifier(_config(repo), Settings({"HOOK_URL": receiver.url}), clock, ledger, backoff_seconds=0.5)
    start = clock.now()
    with caplog.at_level(logging.DEBUG):
        (d,) = notifier.notify(_rec(), "failed")
    assert d.delivered and d.attempts == 4 and d.status == 200
    assert len(receiver.bodies) == 4
    # Backoff 0.5 then 1.0 (doubling), then the receiver's Retry-After of 2 seconds.
    assert (clock.now() - start).total_seconds() == pytest.approx(0.5 + 1.0 + 2.0)
    body = receiver.bodies[-1]
    assert body["event"] == "failed" and body["deployment"]["id"] == _rec().id
    assert body["deployment"]["error"] == "target refused"
    (act,) = [a for a in ledger.list_activity("dev").items if a.kind == "notification"]
    assert act.status == "delivered" and act.data["attempts"] == 4
    # The URL (it carries the webhook's credential) is never logged or recorded.
    assert "secret-token-123" not in caplog.text and "secret-token-123" not in json.dumps(act.to_json())


def test_retries_are_bounded_and_a_4xx_is_not_retried(repo, ledger, receiver):
    clock = FakeClock()
    receiver.script = [503] * 10
    notifier = Notifier(_config(repo), Settings({"HOOK_URL": receiver.url}), clock, ledger, attempts=3)
    (d,) = notifier.notify(_rec(), "failed")
    assert not d.delivered and d.attempts == 3 and d.status == 503 and len(receiver.bodies) == 3
    receiver.script, receiver.bodies = [400], []
    (d,) = notifier.notify(_rec(), "succeeded")
    assert not d.delivered and d.attempts == 1 and d.status == 400 and len(receiver.bodies) == 1
    statuses = sorted(a.status or "" for a in ledger.list_activity("dev").items if a.kind == "notification")
    assert statuses == ["failed", "failed"]


def test_unsubscribed_event_and_missing_setting_send_nothing(repo, ledger, receiver):
    notifier = Notifier(_config(repo, on=["failed"]), Settings({"HOOK_URL": receiver.url}), FakeClock(), ledger)
    assert notifier.notify(_rec(), "succeeded") == [] and receiver.bodies == []
    unset = Notifier(_config(repo), Settings({}), FakeClock(), ledger)
    (d,) = unset.notify(_rec(), "failed")
    assert not d.delivered and "HOOK_URL is not set" in (d.error or "")


def test_teams_message_is_an_adaptive_card(repo, ledger, receiver):
    notifier = Notifier(_config(repo, kind="teams"), Settings({"HOOK_URL": receiver.url}), FakeClock(), ledger)
    notifier.notify(_rec(), "failed")
    (body,) = receiver.bodies
    assert body["type"] == "message"
    (att,) = body["attachments"]
    assert att["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = att["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert "failed" in card["body"][0]["text"] and card["body"][0]["color"] == "Attention"
    facts = {f["title"]: f["value"] for f in card["body"][1]["facts"]}
    assert facts["Environment"] == "dev" and facts["Commit"] == "a" * 12 and facts["Actor"] == "ada"


def test_deployment_outcome_is_unchanged_when_the_receiver_is_down(repo, storage, ledger, receiver, deployer):
    receiver.close()  # nothing listens on that port any more: connection refused
    flow = Flow(_config(repo), storage, ledger, deployer, settings=Settings({"HOOK_URL": receiver.url}))
    rec = flow.push(repo.commit({"n.py": "1"}))
    flow.drain()
    assert flow.get(rec.id).status == "succeeded"
    (act,) = [a for a in ledger.list_activity("dev").items if a.kind == "notification"]
    assert act.status == "failed" and act.data["attempts"] == 4 and "connection error" in act.data["error"]


def test_waiting_for_approval_and_success_are_notified_through_the_flow(repo, storage, ledger, receiver, deployer):
    config = make_config(repo, {"prod": {"deploy_on": ["manual"], "approval": "required", "notify": [
        {"kind": "webhook", "url_setting": "HOOK_URL", "on": ["waiting_approval", "succeeded", "rejected"]}]}})
    flow = Flow(config, storage, ledger, deployer, settings=Settings({"HOOK_URL": receiver.url}))
    rec = flow.push(repo.commit({"n.py": "1"}), env="prod", trigger="manual")
    flow.drain()
    (waiting,) = receiver.bodies
    assert waiting["event"] == "waiting_approval" and waiting["deployment"]["status"] == "waiting_approval"
    assert "requires approval" in waiting["reason"]
    from shared.release import after_end_hooks, decide

    decide(ledger, flow.queue, config, rec.id, approve=False, actor="bob", reason="not today",
           after_end=after_end_hooks(config, storage, ledger, flow.settings, ledger.clock, flow.queue))
    assert [b["event"] for b in receiver.bodies] == ["waiting_approval", "rejected"]
    assert receiver.bodies[-1]["reason"] == "rejected by bob: not today"


def test_rolled_back_is_notified_when_a_rollback_succeeds(repo, storage, ledger, receiver, deployer):
    from shared.release import request_rollback

    config = make_config(repo, {"dev": {"deploy_on": ["push"], "notify": [
        {"kind": "webhook", "url_setting": "HOOK_URL", "on": ["rolled_back"]}]}})
    flow = Flow(config, storage, ledger, deployer, settings=Settings({"HOOK_URL": receiver.url}))
    flow.push(repo.commit({"n.py": "1"}))
    flow.drain()
    bad = flow.push(repo.commit({"n.py": "2"}))
    flow.drain()
    assert receiver.bodies == []  # succeeded is not subscribed here
    rb = request_rollback(ledger, flow.queue, config, bad.id, actor="bob")
    flow.drain()
    (body,) = receiver.bodies
    assert body["event"] == "rolled_back" and body["deployment"]["id"] == bad.id
    assert body["deployment"]["status"] == "rolled_back" and rb.id in body["reason"]
