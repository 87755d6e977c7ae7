"""The approve/reject/rollback routes through the dev host's dispatcher, and the approve/reject CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from shared.app import AppContext, set_current
from shared.settings import Settings
from tests.fixtures.host import keyed
from tests.fixtures.identity import AUTH_ON, PEOPLE, signed_in

from .helpers import PIPELINE, Flow, make_config


class Client:
    def __init__(self) -> None:
        from devhost.host import FunctionHost
        from function_app import app

        self.host = FunctionHost(app)

    def post(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        status, h, out = self.host.dispatch("POST", f"http://localhost/api/{path}",
                                            keyed(self.host, {"Content-Type": "application/json", **(headers or {})}),
                                            data)
        return status, json.loads(out) if h.get("Content-Type", "").startswith("application/json") else out


@pytest.fixture(scope="module")
def client() -> Client:
    return Client()


@pytest.fixture
def flow(repo, storage, ledger, deployer) -> Iterator[Flow]:  # type: ignore[no-untyped-def]
    config = make_config(repo, {**PIPELINE, "dev": {"deploy_on": ["push"], "approval": "required"}})
    flow = Flow(config, storage, ledger, deployer)
    set_current(AppContext(settings=Settings(AUTH_ON), clock=ledger.clock, components=flow.components, _config=config,
                           _storage=storage))
    try:
        yield flow
    finally:
        set_current(None)


def _waiting(flow: Flow, repo, actor: str = "ada") -> str:  # type: ignore[no-untyped-def]
    rec = flow.push(repo.commit({"n.py": str(flow.ledger.clock.now())}), actor=actor)
    flow.drain()
    assert flow.get(rec.id).status == "waiting_approval"
    return rec.id


def test_approve_with_the_app_service_identity_header(client, flow, repo):
    did = _waiting(flow, repo)
    status, body = client.post(f"deployments/{did}/approve", {"reason": "ok", "actor": "ignored"},
                               signed_in("bob@contoso.example"))
    assert status == 200 and body["status"] == "queued"
    assert body["extra"]["approval"]["by"] == "bob@contoso.example" and body["extra"]["approval"]["reason"] == "ok"
    status, body = client.post(f"deployments/{did}/approve", {}, signed_in("carol@contoso.example"))
    assert status == 409 and body["error"] == "not_waiting_approval"
    flow.drain()
    assert flow.get(did).status == "succeeded"


def test_http_errors_are_4xx_json(client, flow, repo):
    did = _waiting(flow, repo, actor="ada")
    bob = signed_in("bob@contoso.example")
    assert client.post(f"deployments/{did}/approve", {}, signed_in("ada@contoso.example"))[0] == 403
    status, body = client.post(f"deployments/{did}/approve", {"actor": "bob@contoso.example"})
    assert status == 401 and body["error"] == "identity_required"
    assert client.post(f"deployments/{did}/reject", b"{not json", bob)[0] == 400
    assert client.post(f"deployments/{did}/reject", {"reason": 5}, bob)[0] == 400
    assert client.post("deployments/nope/approve", {}, bob)[0] == 404
    assert flow.get(did).status == "waiting_approval"  # none of that changed anything
    status, body = client.post(f"deployments/{did}/reject", {"reason": "no"}, bob)
    assert status == 200 and body["status"] == "rejected" and body["error"] == "rejected by bob@contoso.example: no"


def test_rollback_route(client, flow, repo):
    config = make_config(repo, {"dev": {"deploy_on": ["push"]}})  # no approval needed here
    flow = Flow(config, flow.storage, flow.ledger, flow.deployer)
    set_current(AppContext(settings=Settings(AUTH_ON), clock=flow.ledger.clock, components=flow.components,
                           _config=config, _storage=flow.storage))
    s1 = repo.commit({"n.py": "1"})
    flow.push(s1)
    flow.drain()
    bad = flow.push(repo.commit({"n.py": "2"}))
    flow.drain()
    bob = signed_in("bob@contoso.example")
    status, body = client.post(f"deployments/{bad.id}/rollback", {"reason": "broken", "actor": "mallory"}, bob)
    assert status == 202 and body["trigger"] == "rollback" and body["rollback_of"] == bad.id
    assert body["commit"] == s1 and body["actor"] == "bob@contoso.example"
    assert client.post(f"deployments/{bad.id}/rollback", {"to": "xyz"}, bob)[0] == 400
    assert client.post(f"deployments/{bad.id}/rollback", {"force": "yes"}, bob)[0] == 400
    flow.drain()
    assert flow.get(body["id"]).status == "succeeded"


def test_cli_approve_and_reject(flow, repo, azurite, tmp_path, monkeypatch, capsys):
    first = _waiting(flow, repo)
    raw = {"repository": {"provider": "local", "url": str(repo.path)}, "people": PEOPLE,
           "security": {"local_identities": True},
           "environments": {**PIPELINE, "dev": {"deploy_on": ["push"], "approval": "required"}}}
    cfg = tmp_path / "environments.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    for name, value in flow.storage.names.app_settings().items():
        monkeypatch.setenv(name, value)
    from shared.cli import build_parser

    parser = build_parser()  # the real parser: its global options (--config, --json) included
    args = parser.parse_args(["--config", str(cfg), "approve", first, "--actor", "ada"])
    from shared.errors import Forbidden

    with pytest.raises(Forbidden):
        args.handler(args)
    args = parser.parse_args(["--config", str(cfg), "reject", first, "--actor", "ada", "--reason", "withdrawn",
                              "--json"])
    assert args.handler(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "rejected" and out["extra"]["approval"]["by"] == "ada"
    assert flow.get(first).status == "rejected"
