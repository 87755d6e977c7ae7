"""Webhook sources (signatures, payloads of the three providers parsed into one Push) and the GitLab git source."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devhost.standins.githost import GitHostStandIn
from shared.errors import BadRequest, NotFound, Unauthorized, Unavailable
from shared.git.hosts import GitLabSource
from shared.ingest.routing import normalize_repository, route_push
from shared.ingest.webhook_sources import SOURCES, lower_headers, sign_github, verify_github
from shared.settings import Settings
from tests.deploy.helpers import LocalRepo

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
    ("refs/heads/feature/x", "no component deploys from branch 'feature/x' (adf_publish: adf; main: notebooks)"),
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


# ------------------------------------------------- GitLab git source against the git host stand-in
GITLAB_TOKEN = "glpat-test-token"


@pytest.fixture
def gitlab_history(repo: LocalRepo) -> dict[str, str]:
    a = repo.commit({"notebooks/a.py": "# Databricks notebook source\nprint(1)", "README.md": "hi"}, "first")
    repo.commit({"notebooks/b.sql": "-- Databricks notebook source\nselect 1"}, "second")
    p = repo.commit({"adf/ARMTemplateForFactory.json": "{}"}, "publish", branch="adf_publish")
    repo.git("checkout", "-q", "main")
    c = repo.commit({"notebooks/a.py": "# Databricks notebook source\nprint(3)"}, "third")
    return {"a": a, "c": c, "p": p}


@pytest.fixture
def gitlab_host(repo: LocalRepo) -> Iterator[GitHostStandIn]:
    host = GitHostStandIn(token=GITLAB_TOKEN).start()
    host.add_repo("contoso/data/platform", str(repo.path))  # a project in a subgroup
    yield host
    host.stop()


def _gitlab(host: GitHostStandIn, token: str | None = GITLAB_TOKEN) -> GitLabSource:
    return GitLabSource("https://gitlab.com/contoso/data/platform.git", token, f"{host.url}/api/v4")


def test_gitlab_source_snapshots_files_at_a_commit(gitlab_host: GitHostStandIn, gitlab_history):
    src = _gitlab(gitlab_host)
    snap = src.snapshot("main")
    assert snap.sha == gitlab_history["c"] and snap.message == "third" and snap.timestamp is not None
    assert snap.author == "ada@example.com"  # GitLab's author_email
    assert set(snap.files) == {"notebooks/a.py", "notebooks/b.sql", "README.md"}
    assert snap.files["notebooks/a.py"].endswith(b"print(3)")
    old = src.snapshot(gitlab_history["a"])
    assert old.sha == gitlab_history["a"] and set(old.files) == {"notebooks/a.py", "README.md"}
    assert old.files["notebooks/a.py"].endswith(b"print(1)")
    assert src.resolve("adf_publish") == gitlab_history["p"]
    assert gitlab_host.server.counters.count("gl.archive") == 2


def test_gitlab_archive_has_the_real_top_folder_and_needs_the_token(gitlab_host: GitHostStandIn, gitlab_history):
    sha = gitlab_history["c"]
    base = f"{gitlab_host.url}/api/v4/projects/contoso%2Fdata%2Fplatform/repository"
    resp = requests.get(f"{base}/archive.tar.gz", params={"sha": sha}, timeout=10,
                        headers={"PRIVATE-TOKEN": GITLAB_TOKEN})
    assert resp.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(resp.content), mode="r:gz") as tar:
        tops = {m.name.split("/", 1)[0] for m in tar.getmembers()}
    assert tops == {f"platform-{sha}-{sha}"}
    denied = requests.get(f"{base}/archive.tar.gz", params={"sha": sha}, timeout=10)
    assert (denied.status_code, denied.json()) == (401, {"message": "401 Unauthorized"})
    missing = requests.get(f"{base}/archive.tar.gz", params={"sha": "f" * 40}, timeout=10,
                           headers={"PRIVATE-TOKEN": GITLAB_TOKEN})
    assert (missing.status_code, missing.json()) == (404, {"message": "404 Not found"})
    mb = requests.get(f"{base}/merge_base", params={"refs[]": ["main", "adf_publish"]}, timeout=10,
                      headers={"PRIVATE-TOKEN": GITLAB_TOKEN})
    fork_point = requests.get(f"{base}/commits/main~1", timeout=10, headers={"PRIVATE-TOKEN": GITLAB_TOKEN})
    assert mb.status_code == 200 and mb.json()["id"] == fork_point.json()["id"] != sha
    bad = requests.get(f"{base}/merge_base", params={"refs[]": ["main", "nope"]}, timeout=10,
                       headers={"PRIVATE-TOKEN": GITLAB_TOKEN})
    assert (bad.status_code, bad.json()) == (400, {"message": "Could not find ref: nope"})


def test_gitlab_source_ancestry(gitlab_host: GitHostStandIn, gitlab_history):
    src, h = _gitlab(gitlab_host), gitlab_history
    assert src.is_ancestor(h["a"], h["c"])
    assert src.is_ancestor(h["c"], h["c"])
    assert not src.is_ancestor(h["c"], h["a"])
    assert not src.is_ancestor(h["p"], h["c"])  # diverged branches
    assert gitlab_host.server.counters.count("gl.merge_base") == 4


def test_gitlab_source_bad_token_is_unavailable(gitlab_host: GitHostStandIn, gitlab_history):
    for token in ("wrong", None):
        with pytest.raises(Unavailable, match="credentials"):
            _gitlab(gitlab_host, token).snapshot("main")
    with pytest.raises(Unavailable):
        GitLabSource("https://gitlab.com/contoso/data/platform", GITLAB_TOKEN, "http://127.0.0.1:9/api/v4").resolve("main")


def test_gitlab_source_unknown_ref_or_project_is_not_found(gitlab_host: GitHostStandIn, gitlab_history):
    src = _gitlab(gitlab_host)
    with pytest.raises(NotFound):
        src.snapshot("no-such-branch")
    with pytest.raises(NotFound):
        src.is_ancestor("no-such-branch", gitlab_history["c"])
    with pytest.raises(NotFound):
        GitLabSource("https://gitlab.com/contoso/elsewhere", GITLAB_TOKEN, f"{gitlab_host.url}/api/v4").resolve("main")
