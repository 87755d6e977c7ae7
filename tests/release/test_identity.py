"""Identity and release gates that cannot be bypassed (issue 15): each bypass found, as a test.

HTTP calls go through the dev host (its dispatcher, and its served front end where the platform's
header handling matters) with the principal header App Service Authentication passes to the app.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from devhost.easyauth import LocalPrincipal, local_principal_from_env
from shared.app import AppContext, set_current
from shared.audit.records import CommitInfo
from shared.cli import main
from shared.errors import Forbidden, Unauthorized
from shared.identity import Principal, cli_principal, http_principal
from shared.release import decide
from shared.settings import Settings
from tests.fixtures.host import keyed
from tests.fixtures.identity import AUTH_ON, PEOPLE, signed_in

from .helpers import PIPELINE, Flow, make_config

PERSON_ROUTES = ["deployments/{id}/approve", "deployments/{id}/reject", "deployments/{id}/rollback",
                 "environments/dev/start", "environments/dev/stop", "environments/dev/adf/triggers/t1/stop",
                 "incidents", "incidents/dev~1-incident-x/resolve"]


class Client:
    def __init__(self) -> None:
        from devhost.host import FunctionHost
        from function_app import app

        self.host = FunctionHost(app)

    def post(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        data = b"" if body is None else json.dumps(body).encode()
        status, _, out = self.host.dispatch("POST", f"http://localhost/api/{path}",
                                            keyed(self.host, {"Content-Type": "application/json", **(headers or {})}),
                                            data)
        return status, json.loads(out)


@pytest.fixture(scope="module")
def client() -> Client:
    return Client()


def _flow(repo, storage, ledger, deployer, *, settings: dict[str, str] | None = None, envs=None) -> Iterator[Flow]:  # type: ignore[no-untyped-def]
    config = make_config(repo, envs or {**PIPELINE, "dev": {"deploy_on": ["push"], "approval": "required"}})
    flow = Flow(config, storage, ledger, deployer)
    set_current(AppContext(settings=Settings(AUTH_ON if settings is None else settings), clock=ledger.clock,
                           components=flow.components, _config=config, _storage=storage))
    return flow


@pytest.fixture
def flow(repo, storage, ledger, deployer) -> Iterator[Flow]:  # type: ignore[no-untyped-def]
    try:
        yield _flow(repo, storage, ledger, deployer)
    finally:
        set_current(None)


def _waiting(flow: Flow, repo, actor: str = "ada", **kw: Any) -> str:  # type: ignore[no-untyped-def]
    rec = flow.push(repo.commit({"n.py": str(flow.ledger.clock.now())}), actor=actor, **kw)
    flow.drain()
    assert flow.get(rec.id).status == "waiting_approval", flow.get(rec.id).error
    return rec.id


# ---------------------------------------------------------------- who the caller is
def test_without_platform_authentication_every_person_route_is_401_with_how_to_enable_it(
        client, repo, storage, ledger, deployer):
    flow = _flow(repo, storage, ledger, deployer, settings={})
    try:
        did = _waiting(flow, repo)
        for route in PERSON_ROUTES:
            status, body = client.post(route.format(id=did), {"actor": "bob"},
                                       signed_in("bob@contoso.example"))
            assert status == 401, route
            assert body["error"] == "authentication_not_enabled" and "authsettingsV2" in body["message"], route
        assert flow.get(did).status == "waiting_approval"
        assert list(ledger.iter_activity("dev")) == []  # nothing recorded by any of them
    finally:
        set_current(None)


def test_a_body_actor_or_a_name_header_is_never_an_identity(client, flow, repo, ledger):
    did = _waiting(flow, repo)
    for headers in ({}, {"X-MS-CLIENT-PRINCIPAL-NAME": "bob@contoso.example"},
                    {"X-MS-CLIENT-PRINCIPAL": "bm90IGpzb24="}):  # base64 of "not json"
        status, body = client.post(f"deployments/{did}/approve", {"actor": "bob@contoso.example"}, headers)
        assert status == 401 and body["error"] == "identity_required", headers
    assert flow.get(did).status == "waiting_approval"
    status, body = client.post(f"deployments/{did}/approve", {"actor": "ada"}, signed_in("bob@contoso.example"))
    assert status == 200 and body["extra"]["approval"]["by"] == "bob@contoso.example"


def test_the_principal_header_is_read_as_app_service_builds_it():
    import base64

    raw = {"auth_typ": "aad", "name_typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
           "role_typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
           "claims": [{"typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name", "val": "Dana"},
                      {"typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
                       "val": "dana@contoso.example"},
                      {"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": "oid-1"},
                      {"typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role", "val": "Release"}]}
    header = base64.b64encode(json.dumps(raw).encode()).decode()
    p = http_principal({"X-MS-CLIENT-PRINCIPAL": header}, Settings(AUTH_ON))
    assert (p.name, p.oid, p.verified, p.roles) == ("dana@contoso.example", "oid-1", True, ("Release",))
    assert {"dana@contoso.example", "oid-1", "dana"} <= p.ids
    with pytest.raises(Unauthorized):
        http_principal({"X-MS-CLIENT-PRINCIPAL": header}, Settings({"WEBSITE_AUTH_ENABLED": "False"}))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_dev_host_front_end_strips_client_principals_and_signs_in_the_local_user(client, flow, repo):
    """Like Easy Auth: a client's own X-MS-CLIENT-PRINCIPAL never reaches the app; the configured
    local user does, through the same header."""
    did = _waiting(flow, repo)
    port = _free_port()
    host = client.host
    host.serve_http("127.0.0.1", port)
    try:
        def post(path: str) -> tuple[int, Any]:
            req = urllib.request.Request(f"http://127.0.0.1:{port}/api/{path}", data=b"{}", method="POST",
                                         headers=keyed(host, {"Content-Type": "application/json",
                                                              **signed_in("carol@contoso.example")}))
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    return r.status, json.loads(r.read())
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read())

        host.local_principal = None
        status, body = post(f"deployments/{did}/approve")
        assert status == 401 and body["error"] == "identity_required"  # the spoofed header was stripped
        host.local_principal = LocalPrincipal("bob@contoso.example", "00000000-0000-0000-0000-0000000000b0")
        status, body = post(f"deployments/{did}/approve")
        assert status == 200 and body["extra"]["approval"]["by"] == "bob@contoso.example"
    finally:
        host.local_principal = None
        host.stop()


def test_the_dev_host_injects_a_local_user_only_where_local_identities_are_allowed(tmp_path, repo):
    for allowed in (False, True):
        cfg = tmp_path / f"env-{allowed}.yaml"
        cfg.write_text(yaml.safe_dump({"repository": {"provider": "local", "url": str(repo.path)},
                                       "security": {"local_identities": allowed},
                                       "environments": {"dev": {"deploy_on": ["push"]}}}))
        got = local_principal_from_env({"DATAOPS_LOCAL_PRINCIPAL": "dev@contoso.example",
                                        "DATAOPS_CONFIG": str(cfg)})
        assert (got is not None) is allowed
    assert local_principal_from_env({}) is None


# ---------------------------------------------------------------- people, not strings
def test_a_github_login_and_the_same_persons_upn_are_one_person(client, repo, storage, ledger, deployer):
    envs = {"dev": {"deploy_on": ["push"], "approval": "required"}}
    flow = _flow(repo, storage, ledger, deployer, envs=envs)
    try:
        flow.config = flow.config.model_copy(update={"people": [
            *flow.config.people, *make_config(repo, envs).people,
            type(flow.config.people[0])(entra="dev1@contoso.example", git=["dev1"])]})
        set_current(AppContext(settings=Settings(AUTH_ON), clock=ledger.clock, _config=flow.config,
                               _storage=storage))
        did = _waiting(flow, repo, actor="dev1")
        status, body = client.post(f"deployments/{did}/approve", {}, signed_in("dev1@contoso.example"))
        assert status == 403 and body["error"] == "self_approval"
        assert flow.get(did).status == "waiting_approval"
        status, _ = client.post(f"deployments/{did}/approve", {}, signed_in("bob@contoso.example"))
        assert status == 200
    finally:
        set_current(None)


def test_authors_and_co_authors_cannot_approve_the_change_they_wrote(client, flow, repo):
    message = "fix loads\n\nCo-authored-by: Carol <carol@contoso.example>\n"
    commit = CommitInfo("a" * 40, None, "Ada Dev", message, "ada@example.com", "noreply@github.com")
    did = _waiting(flow, repo, actor="bob", commits=[commit])
    for who in ("bob@contoso.example", "ada@contoso.example", "carol@contoso.example"):
        status, body = client.post(f"deployments/{did}/approve", {}, signed_in(who))
        assert status == 403 and body["error"] == "self_approval", who
    flow.config = flow.config.model_copy(update={"people": [
        *flow.config.people, type(flow.config.people[0])(entra="dana@contoso.example", git=["dana"])]})
    decide(flow.ledger, flow.queue, flow.config, did, approve=True,
           actor=Principal("dana@contoso.example", True, "app_service"))
    assert flow.get(did).status == "queued"


def test_an_unmapped_git_identity_is_refused_unless_self_approval_is_allowed(repo, storage, ledger, deployer):
    flow = _flow(repo, storage, ledger, deployer)
    try:
        did = _waiting(flow, repo, actor="stranger")
        with pytest.raises(Forbidden) as err:
            decide(ledger, flow.queue, flow.config, did, approve=True, actor="bob@contoso.example")
        assert err.value.code == "unknown_identity" and "stranger" in err.value.message
        assert "people:" in err.value.message
    finally:
        set_current(None)
    envs = {**PIPELINE, "dev": {"deploy_on": ["push"], "approval": "required", "allow_self_approval": True}}
    flow = Flow(make_config(repo, envs), storage, ledger, deployer)
    did = _waiting(flow, repo, actor="stranger")
    assert decide(ledger, flow.queue, flow.config, did, approve=True, actor="bob").status == "queued"


def test_a_github_noreply_email_stands_for_its_login(flow, repo):
    commit = CommitInfo("b" * 40, None, "ada", "x", "1234+ada@users.noreply.github.com")
    did = _waiting(flow, repo, actor="bob", commits=[commit])
    with pytest.raises(Forbidden) as err:
        decide(flow.ledger, flow.queue, flow.config, did, approve=True, actor="ada@contoso.example")
    assert err.value.code == "self_approval"


# ---------------------------------------------------------------- the CLI
def _cli_config(tmp_path, repo, *, local: bool) -> str:  # type: ignore[no-untyped-def]
    raw = {"repository": {"provider": "local", "url": str(repo.path)}, "people": PEOPLE,
           "security": {"local_identities": local},
           "environments": {**PIPELINE, "dev": {"deploy_on": ["push"], "approval": "required"}}}
    path = tmp_path / f"environments-{local}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def test_the_cli_approves_only_with_a_verified_identity(flow, repo, azurite, tmp_path, monkeypatch, capsys):
    """Deploying records cli:<os user> (unverified); approving as that user is refused, and --actor
    names someone only where local identities are allowed."""
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    for name, value in flow.storage.names.app_settings().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AZURE_CLIENT_ID", raising=False)
    did = _waiting(flow, repo)
    strict = _cli_config(tmp_path, repo, local=False)
    assert main(["--config", strict, "approve", did]) == 2
    assert "identity_required" in capsys.readouterr().err
    assert main(["--config", strict, "approve", did, "--actor", "bob"]) == 2
    assert "local_identities" in capsys.readouterr().err
    assert flow.get(did).status == "waiting_approval"
    assert main(["--config", _cli_config(tmp_path, repo, local=True), "approve", did, "--actor", "bob"]) == 0
    assert flow.get(did).extra["approval"]["by"] == "bob"
    # Stopping an environment in someone else's name is refused the same way (nothing is stopped).
    assert main(["--config", strict, "env", "stop", "dev", "--actor", "mallory", "--yes"]) == 2
    assert "local_identities" in capsys.readouterr().err
    assert all(a.kind != "environment_stop" for a in flow.ledger.iter_activity("dev"))


def test_cli_identity_is_the_azure_sign_in(repo):
    import base64

    from azure.core.credentials import AccessToken

    claims = {"upn": "dana@contoso.example", "oid": "oid-9", "roles": ["Release.Emergency"]}
    token = "e30." + base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=") + ".sig"

    class Signed:
        def get_token(self, *scopes: str, **_: Any) -> AccessToken:
            return AccessToken(token, 0)

    config = make_config(repo, PIPELINE)
    p = cli_principal(config, credential=Signed())
    assert (p.name, p.oid, p.verified, p.source) == ("dana@contoso.example", "oid-9", True, "azure")
    assert p.has_any(["release.emergency"])

    class NotSignedIn:
        def get_token(self, *scopes: str, **_: Any) -> AccessToken:
            raise RuntimeError("az login first")

    p = cli_principal(config, credential=NotSignedIn())
    assert p.name.startswith("cli:") and not p.verified


# ---------------------------------------------------------------- verified actors, commits carried
def _get(client: Client, path: str) -> tuple[int, Any]:
    status, _, out = client.host.dispatch("GET", f"http://localhost/api/{path}", keyed(client.host), b"")
    return status, json.loads(out)


def _authored(repo, author: str, message: str) -> str:  # type: ignore[no-untyped-def]
    (repo.path / "n.py").write_text(message)
    repo.git("add", "n.py")
    repo.git("commit", "-q", f"--author={author}", "-m", message)
    return str(repo.git("rev-parse", "HEAD"))


def test_the_record_says_whether_its_actor_is_verified(client, repo, storage, ledger, deployer, tmp_path,
                                                      monkeypatch, azurite, capsys):
    flow = _flow(repo, storage, ledger, deployer, envs=PIPELINE)
    try:
        pushed = flow.push(repo.commit({"n.py": "1"}), actor="bob", actor_verified=False, actor_source="git:github")
        flow.drain()
        status, body = _get(client, f"deployments/{pushed.id}")
        assert status == 200 and (body["actor"], body["actor_verified"], body["actor_source"]) == \
            ("bob", False, "git:github")
        promoted = [d for d in flow.of("test") if d.trigger == "promotion"]
        assert promoted and (promoted[0].actor_verified, promoted[0].actor_source) == (False, "git:github")
        # A rollback asked over HTTP is by the signed-in (verified) caller; the CLI shows both.
        status, body = client.post(f"deployments/{pushed.id}/rollback", {"to": pushed.commit},
                                   signed_in("carol@contoso.example"))
        assert status == 409  # nothing before it to go back to; refused before anything is recorded
        monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
        for name, value in storage.names.app_settings().items():
            monkeypatch.setenv(name, value)
        assert main(["--config", _cli_config(tmp_path, repo, local=False), "audit", "show", pushed.id]) == 0
        out = capsys.readouterr().out
        assert "actor_verified:   False" in out and "actor_source:     git:github" in out
        assert "commits (1)" in out and pushed.commit[:12] in out
        assert main(["--config", _cli_config(tmp_path, repo, local=False), "env", "status", "dev"]) == 0
        out = capsys.readouterr().out
        assert "deployed" in out and pushed.id in out and "bob (unverified)" in out
        with pytest.raises(Unauthorized):
            from shared.release import request_rollback

            request_rollback(ledger, flow.queue, flow.config, pushed.id,
                             actor=Principal("cli:root", False, "cli_unverified"))
    finally:
        set_current(None)


def test_every_deployment_carries_the_commits_it_brings_and_their_authors_cannot_approve(
        client, repo, storage, ledger, deployer):
    """A manual deploy and the promotions after it carry the whole range since what each environment
    holds, not only the head commit: the author of an earlier commit of the range cannot approve."""
    flow = _flow(repo, storage, ledger, deployer, envs=PIPELINE)
    try:
        c1 = repo.commit({"n.py": "1"}, "first")  # by Ada
        flow.push(c1, actor="bob")
        flow.drain()
        (waiting,) = [d for d in flow.of("prod") if d.status == "waiting_approval"]
        decide(ledger, flow.queue, flow.config, waiting.id, approve=True, actor="carol@contoso.example")
        flow.drain()
        assert flow.get(waiting.id).status == "succeeded"

        c2 = _authored(repo, "Erin <erin@contoso.example>", "second")
        c3 = _authored(repo, "Ada Dev <ada@example.com>",
                       "third\n\nCo-authored-by: Frank <frank@contoso.example>\n")
        manual = flow.push(c3, actor="bob", trigger="manual")  # carries nothing: the head is all it knows
        flow.drain()
        for rec in (flow.get(manual.id), *(d for d in flow.of("test") if d.commit == c3),
                    *(d for d in flow.of("prod") if d.commit == c3)):
            assert [c.id for c in rec.commits] == [c3, c2], (rec.environment, rec.trigger)
            assert rec.commit_range == {"base": c1, "head": c3, "total": 2, "listed": 2, "truncated": False}
            assert rec.commits[0].co_authors == ["frank@contoso.example"]
            assert rec.commits[1].author_email == "erin@contoso.example"
        (prod,) = [d for d in flow.of("prod") if d.commit == c3]
        assert prod.status == "waiting_approval"
        status, body = _get(client, f"deployments/{prod.id}")
        assert [c["id"] for c in body["commits"]] == [c3, c2] and body["commit_range"]["base"] == c1
        for who in ("erin@contoso.example", "frank@contoso.example", "ada@contoso.example", "bob@contoso.example"):
            status, body = client.post(f"deployments/{prod.id}/approve", {}, signed_in(who))
            assert status == 403 and body["error"] == "self_approval", who
        status, body = client.post(f"deployments/{prod.id}/approve", {}, signed_in("carol@contoso.example"))
        assert status == 200
        flow.drain()
        assert flow.get(prod.id).status == "succeeded"

        # A rollback brings nothing new: it carries the commit it goes back to.
        rb = flow.push(c1, env="prod", actor="carol", trigger="rollback")
        flow.drain()
        rec = flow.get(rb.id)
        assert [c.id for c in rec.commits] == [c1] and rec.commit_range["total"] == 0
        assert rec.status == "waiting_approval"  # a release like any other
        decide(ledger, flow.queue, flow.config, rb.id, approve=True, actor="bob@contoso.example")
        flow.drain()

        # What each environment runs now, per component (GET /api/environments/{env}).
        status, body = _get(client, "environments/prod")
        assert status == 200, body
        now = body["deployed"]["notebooks"]
        assert (now["commit"], now["deployment_id"], now["trigger"], now["status"]) == \
            (c1, rb.id, "rollback", "succeeded")
        status, body = _get(client, "environments/test")
        assert body["deployed"]["notebooks"]["commit"] == c3 and body["deployed"]["notebooks"]["commits"] == 2
    finally:
        set_current(None)


def test_a_range_too_long_to_read_refuses_an_approval_it_cannot_check(client, repo, storage, ledger, deployer,
                                                                      monkeypatch):
    from shared.deploy import commits as carried

    monkeypatch.setattr(carried, "MAX_SCANNED", 3)
    monkeypatch.setattr(carried, "MAX_LISTED", 2)
    envs = {"dev": {"deploy_on": ["push"]}, "prod": {"deploy_on": ["manual"], "approval": "required"}}
    flow = _flow(repo, storage, ledger, deployer, envs=envs)
    try:
        c1 = repo.commit({"n.py": "1"}, "first")
        flow.push(c1, env="prod", actor="bob", trigger="manual")
        flow.drain()
        (first,) = flow.of("prod")
        decide(ledger, flow.queue, flow.config, first.id, approve=True, actor="carol@contoso.example")
        flow.drain()
        shas = [_authored(repo, f"P{n} <p{n}@contoso.example>", f"c{n}") for n in range(3)]
        rec = flow.push(shas[-1], env="prod", actor="bob", trigger="manual")
        flow.drain()
        rec = flow.get(rec.id)
        assert len(rec.commits) == 2 and rec.commit_range["listed"] == 2 and rec.commit_range["total"] == 3
        assert not rec.commit_range["truncated"] and "p0@contoso.example" in rec.commit_range["people"]
        status, body = client.post(f"deployments/{rec.id}/approve", {}, signed_in("p0@contoso.example"))
        assert status == 403 and body["error"] == "self_approval"  # beyond the list, still known
        more = [_authored(repo, f"Q{n} <q{n}@contoso.example>", f"d{n}") for n in range(4)]
        big = flow.push(more[-1], env="prod", actor="bob", trigger="manual")
        flow.drain()
        big = flow.get(big.id)
        assert big.commit_range["truncated"] is True and big.commit_range["total"] == 7
        status, body = client.post(f"deployments/{big.id}/approve", {}, signed_in("carol@contoso.example"))
        assert status == 403 and body["error"] == "unknown_identity" and "smaller steps" in body["message"]
    finally:
        set_current(None)


# ------------------------------------------- a first deployment carries the history (nothing deployed yet)
def test_a_first_deployment_carries_the_history_and_every_author_of_it_is_checked(client, repo, storage, ledger,
                                                                                  deployer):
    """Nothing deployed in prod yet: the deployment brings the head's whole history, so the author of
    an older commit cannot approve it; only the head is a lead-time sample (the history may have
    reached prod before the product: its lead times are unknown)."""
    from shared.metrics.report import dora_report

    envs = {"dev": {"deploy_on": ["push"]}, "prod": {"deploy_on": ["manual"], "approval": "required"}}
    flow = _flow(repo, storage, ledger, deployer, envs=envs)
    try:
        repo.commit({"n.py": "0"}, "start")  # by Ada
        _authored(repo, "Erin <erin@contoso.example>", "erin's")
        head = _authored(repo, "Frank <frank@contoso.example>", "frank's")
        every = repo.git("rev-list", head).split()
        rec = flow.push(head, env="prod", actor="bob", trigger="manual")
        flow.drain()
        rec = flow.get(rec.id)
        assert rec.status == "waiting_approval"
        assert [c.id for c in rec.commits] == every
        assert rec.commit_range == {"base": None, "first": True, "head": head, "total": len(every),
                                    "listed": len(every), "truncated": False}
        assert rec.commits[1].author_email == "erin@contoso.example"
        for who in ("erin@contoso.example", "ada@contoso.example", "frank@contoso.example", "bob@contoso.example"):
            status, body = client.post(f"deployments/{rec.id}/approve", {}, signed_in(who))
            assert status == 403 and body["error"] == "self_approval", who
        status, body = client.post(f"deployments/{rec.id}/approve", {}, signed_in("carol@contoso.example"))
        assert status == 200, body
        flow.drain()
        assert flow.get(rec.id).status == "succeeded"
        report = dora_report(ledger, "prod", ledger.clock.now(), 30, use_rollup=False).to_json()
        assert report["lead_time"]["commits"] == 1
    finally:
        set_current(None)


def test_a_truncated_first_deployment_checks_the_pusher_and_the_head_and_can_be_approved(
        client, repo, storage, ledger, deployer, monkeypatch):
    """A first deployment of a long-lived repository is always truncated: refusing it (as a truncated
    range is) would refuse it forever. It checks the pusher and the head's people, and says so."""
    from shared.deploy import commits as carried

    monkeypatch.setattr(carried, "MAX_SCANNED", 3)
    monkeypatch.setattr(carried, "MAX_LISTED", 2)
    envs = {"dev": {"deploy_on": ["push"]}, "prod": {"deploy_on": ["manual"], "approval": "required"}}
    flow = _flow(repo, storage, ledger, deployer, envs=envs)
    try:
        shas = [_authored(repo, f"P{n} <p{n}@contoso.example>", f"c{n}\n\nCo-authored-by: Q{n} <q{n}@contoso.example>")
                for n in range(5)]
        head = shas[-1]
        rec = flow.push(head, env="prod", actor="bob", trigger="manual")
        flow.drain()
        rec = flow.get(rec.id)
        assert [c.id for c in rec.commits] == [shas[4], shas[3]]
        rng = rec.commit_range
        assert (rng["first"], rng["truncated"], rng["listed"], rng["self_approval"]) == \
            (True, True, 2, "pusher_and_head")
        assert rng["total"] == len(repo.git("rev-list", head).split())  # git log counts; GitHub/GitLab do not
        status, body = _get(client, f"deployments/{rec.id}")
        assert body["commit_range"]["self_approval"] == "pusher_and_head"
        for who in ("p4@contoso.example", "q4@contoso.example", "bob@contoso.example"):
            status, body = client.post(f"deployments/{rec.id}/approve", {}, signed_in(who))
            assert status == 403 and body["error"] == "self_approval", who
        status, body = client.post(f"deployments/{rec.id}/approve", {}, signed_in("p3@contoso.example"))
        assert status == 200, body
        assert flow.get(rec.id).extra["approval"]["self_approval_checked"] == "pusher_and_head"
        flow.drain()
        assert flow.get(rec.id).status == "succeeded"
        # The next deployment has a base again: a range too long to read refuses approval as before.
        more = [_authored(repo, f"R{n} <r{n}@contoso.example>", f"d{n}") for n in range(4)]
        big = flow.push(more[-1], env="prod", actor="bob", trigger="manual")
        flow.drain()
        big = flow.get(big.id)
        assert big.commit_range["base"] == head and big.commit_range["truncated"] and "first" not in big.commit_range
        status, body = client.post(f"deployments/{big.id}/approve", {}, signed_in("carol@contoso.example"))
        assert status == 403 and body["error"] == "unknown_identity"
    finally:
        set_current(None)
