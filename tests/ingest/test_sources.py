"""Webhook sources: signatures, and payloads of the three providers parsed into one Push."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.errors import BadRequest, Unauthorized
from shared.ingest.routing import normalize_repository, route_push
from shared.ingest.sources import SOURCES, lower_headers, sign_github, verify_github
from shared.settings import Settings

from .helpers import (
    SECRETS,
    azure_devops,
    azure_devops_push,
    config_for,
    github,
    github_push,
    gitlab,
    gitlab_push,
)


def test_github_signature_matches_the_documented_test_vector():
    sig = sign_github("It's a Secret to Everybody", b"Hello, World!")
    assert sig == "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    s = Settings({"GITHUB_WEBHOOK_SECRET": "It's a Secret to Everybody"})
    verify_github({"x-hub-signature-256": sig}, b"Hello, World!", s)
    for bad in ({}, {"x-hub-signature-256": sig[:-1] + "0"}, {"x-hub-signature-256": sig[7:]}):
        with pytest.raises(Unauthorized):
            verify_github(bad, b"Hello, World!", s)
    with pytest.raises(Unauthorized):
        verify_github({"x-hub-signature-256": sig}, b"Hello, World!", Settings({}))


def _parse(provider: str, headers: dict[str, str], body: bytes):
    src = SOURCES[provider]
    h = lower_headers(headers)
    src.verify(h, body, Settings(SECRETS))
    payload = json.loads(body)
    return src.classify(h, payload), payload, h


def test_github_corpus_push_examples(corpus: Path):
    cfg = config_for("github", "https://github.com/Codertocat/Hello-World", main="master")
    files = sorted((corpus / "webhooks" / "github").glob("*.json"))
    assert files
    kinds = set()
    for f in files:
        headers, body = github(f.read_bytes())
        event, payload, h = _parse("github", headers, body)
        assert event.kind == "push"
        push = SOURCES["github"].parse(h, payload)
        assert push.provider == "github" and push.pusher == "Codertocat"
        assert push.ref == payload["ref"] and push.after == payload["after"]
        route = route_push(cfg, push)
        if push.ref.startswith("refs/tags/"):
            assert push.deleted and route.ignored and "deleted" in route.ignored
            kinds.add("tag")
        else:
            assert [t.component for t in route.targets] == ["notebooks", "notebooks"]
            assert push.head_time is not None and push.commits[0].author == "Codertocat"
            kinds.add("branch")
    assert kinds == {"tag", "branch"}


def test_github_corpus_ping_examples(corpus: Path):
    for f in sorted((corpus / "webhooks" / "github" / "ping").glob("*.json")):
        event, _, _ = _parse("github", *github(f.read_bytes(), event="ping"))
        assert event.kind == "ping"


def test_azure_devops_corpus_examples(corpus: Path):
    for f in sorted((corpus / "webhooks" / "azure-devops").glob("*.json")):
        event, payload, h = _parse("azure-devops", *azure_devops(f.read_bytes()))
        assert event.kind == "push"
        push = SOURCES["azure-devops"].parse(h, payload)
        upd = payload["resource"]["refUpdates"][0]
        assert (push.ref, push.before, push.after) == (upd["name"], upd["oldObjectId"], upd["newObjectId"])
        assert push.delivery_id == payload["id"] and push.pusher
        assert push.head_commit is not None and push.head_commit.timestamp is not None
        cfg = config_for("azure-devops", payload["resource"]["repository"]["remoteUrl"], main="master")
        assert [t.environment for t in route_push(cfg, push).targets] == ["dev", "test"]


def test_gitlab_corpus_examples(corpus: Path):
    for f in sorted((corpus / "webhooks" / "gitlab").glob("*.json")):
        event, payload, h = _parse("gitlab", *gitlab(f.read_bytes()))
        assert event.kind == "push"
        push = SOURCES["gitlab"].parse(h, payload)
        assert push.after == payload["after"] and push.pusher == payload["user_username"]
        assert all(c.timestamp is not None for c in push.commits)
        cfg = config_for("gitlab", payload["project"]["web_url"], main="master")
        assert route_push(cfg, push).targets
        other = config_for("gitlab", "https://gitlab.com/someone/else", main="master")
        assert "not the configured repository" in (route_push(other, push).ignored or "")


@pytest.mark.parametrize(("ref", "reason"), [
    ("refs/heads/feature/x", "neither the main branch"),
    ("refs/tags/v1.0", "tag refs/tags/v1.0 is not a branch"),
])
def test_routing_ignores_other_refs(ref: str, reason: str):
    cfg = config_for("github", "https://github.com/contoso/data-platform")
    h, body = github(github_push(ref=ref))
    _, payload, hh = _parse("github", h, body)
    assert reason in (route_push(cfg, SOURCES["github"].parse(hh, payload)).ignored or "")


def test_routing_publish_branch_asks_for_adf_and_deletion_is_ignored():
    cfg = config_for("github", "https://github.com/contoso/data-platform")
    parse = SOURCES["github"].parse
    push = parse({"x-github-delivery": "1"}, github_push(ref="refs/heads/adf_publish"))
    assert {(t.environment, t.component) for t in route_push(cfg, push).targets} == {("dev", "adf"), ("test", "adf")}
    gone = parse({"x-github-delivery": "2"}, github_push(after="0" * 40))
    assert "deleted" in (route_push(cfg, gone).ignored or "")


def test_own_payloads_of_each_provider_parse():
    ado = SOURCES["azure-devops"].parse({}, azure_devops_push())
    assert ado.pusher == "bo@example.com" and ado.commits[0].author == "bo@example.com"
    gl = SOURCES["gitlab"].parse({"x-gitlab-event-uuid": "u1"}, gitlab_push())
    assert gl.delivery_id == "u1" and gl.branch == "main"
    with pytest.raises(BadRequest):
        SOURCES["gitlab"].parse({}, gitlab_push())  # no delivery id
    with pytest.raises(BadRequest):
        SOURCES["github"].parse({"x-github-delivery": "1"}, {**github_push(), "after": "not-a-sha"})


@pytest.mark.parametrize(("a", "b"), [
    ("https://github.com/Contoso/Data-Platform.git", "git@github.com:contoso/data-platform.git"),
    ("https://user@dev.azure.com/org/proj/_git/repo", "git@ssh.dev.azure.com:v3/org/proj/repo"),
])
def test_repository_names_normalize(a: str, b: str):
    assert normalize_repository(a) == normalize_repository(b)
