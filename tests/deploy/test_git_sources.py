"""Git sources: a local repository, and the GitHub / Azure DevOps APIs of the git host stand-in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from devhost.standins.githost import GitHostStandIn
from shared.errors import NotFound, Unavailable
from shared.git.hosts import AzureDevOpsSource, GitHubSource, LocalGitSource, source_for
from shared.settings import Settings

from .helpers import LocalRepo, make_config


@pytest.fixture
def history(repo: LocalRepo) -> dict[str, str]:
    a = repo.commit({"notebooks/a.py": "# Databricks notebook source\nprint(1)", "README.md": "hi"}, "first")
    b = repo.commit({"notebooks/b.sql": "-- Databricks notebook source\nselect 1"}, "second")
    p = repo.commit({"adf/ARMTemplateForFactory.json": "{}"}, "publish", branch="adf_publish")
    repo.git("checkout", "-q", "main")
    c = repo.commit({"notebooks/a.py": "# Databricks notebook source\nprint(3)"}, "third")
    return {"a": a, "b": b, "c": c, "p": p}


@pytest.fixture
def githost(repo: LocalRepo) -> Iterator[GitHostStandIn]:
    host = GitHostStandIn(token="ghp-test-token").start()
    host.add_repo("contoso/data-platform", str(repo.path))
    host.add_repo("contoso/data/platform", str(repo.path))
    yield host
    host.stop()


def _check(source, history: dict[str, str]) -> None:
    snap = source.snapshot("main")
    assert snap.sha == history["c"] and snap.timestamp is not None and snap.message == "third"
    assert set(snap.files) == {"notebooks/a.py", "notebooks/b.sql", "README.md"}
    assert snap.files["notebooks/a.py"].endswith(b"print(3)")
    old = source.snapshot(history["a"])
    assert set(old.files) == {"notebooks/a.py", "README.md"}
    assert source.resolve("adf_publish") == history["p"]
    assert source.is_ancestor(history["a"], history["c"])
    assert source.is_ancestor(history["c"], history["c"])
    assert not source.is_ancestor(history["c"], history["a"])
    assert not source.is_ancestor(history["p"], history["c"])  # diverged branches
    with pytest.raises(NotFound):
        source.snapshot("no-such-branch")


def test_local_repository(repo: LocalRepo, history):
    _check(LocalGitSource(str(repo.path)), history)
    with pytest.raises(NotFound):
        LocalGitSource(str(repo.path / "missing")).resolve("main")


def test_github_api(githost: GitHostStandIn, history):
    src = GitHubSource("https://github.com/contoso/data-platform", "ghp-test-token", githost.url)
    _check(src, history)
    assert githost.server.counters.count("gh.tarball") >= 2


def test_azure_devops_api(githost: GitHostStandIn, history):
    src = AzureDevOpsSource("https://dev.azure.com/contoso/data/_git/platform", "ghp-test-token", githost.url)
    _check(src, history)


def test_wrong_token_and_unreachable_host_are_unavailable(githost: GitHostStandIn, history):
    with pytest.raises(Unavailable, match="credentials"):
        GitHubSource("https://github.com/contoso/data-platform", "wrong", githost.url).snapshot("main")
    with pytest.raises(Unavailable):
        GitHubSource("https://github.com/contoso/data-platform", None, "http://127.0.0.1:9").resolve("main")


def test_source_for_reads_the_token_from_the_named_setting(githost: GitHostStandIn, history):
    cfg = make_config("https://github.com/contoso/data-platform", provider="github", api_url=githost.url)
    cfg = cfg.model_copy(update={"repository": cfg.repository.model_copy(update={"token_setting": "GIT_TOKEN"})})
    src = source_for(cfg.repository, Settings({"GIT_TOKEN": "ghp-test-token"}))
    assert src.resolve("main") == history["c"]
    assert requests.get(f"{githost.url}/repos/contoso/data-platform/commits/main", timeout=5).status_code == 401


# ------------------------------------------------------------ commit ranges (issue 15: commits carried)
LONG = "x" * 150  # longer than Azure DevOps keeps in a commit list


def _authored(repo: LocalRepo, n: int, author: str, message: str) -> str:
    (repo.path / "log.txt").write_text(f"{n}\n")
    repo.git("add", "log.txt")
    repo.git("commit", "-q", f"--author={author}", "-m", message)
    return repo.git("rev-parse", "HEAD")


@pytest.fixture
def ranged(repo: LocalRepo) -> dict[str, str]:
    base = repo.commit({"n.py": "0"}, "base")
    one = _authored(repo, 1, "Ada Dev <ada@example.com>", "one")
    two = _authored(repo, 2, "bob <bob@example.com>",
                    f"two {LONG}\n\nCo-authored-by: Carol <carol@contoso.example>\n")
    return {"base": base, "one": one, "two": two}


def _sources(repo: LocalRepo, githost: GitHostStandIn) -> dict[str, object]:
    from shared.git.hosts import GitLabSource

    githost.add_repo("contoso/data/platform", str(repo.path))
    return {"local": LocalGitSource(str(repo.path)),
            "github": GitHubSource("https://github.com/contoso/data-platform", "ghp-test-token", githost.url),
            "azure-devops": AzureDevOpsSource("https://dev.azure.com/contoso/data/_git/platform", "ghp-test-token",
                                              githost.url),
            "gitlab": GitLabSource("https://gitlab.example/contoso/data-platform", "ghp-test-token",
                                   f"{githost.url}/api/v4")}


def test_every_source_lists_the_commits_between_two_commits_with_their_people(repo, githost, ranged):
    for name, src in _sources(repo, githost).items():
        commits, total = src.commits_between(ranged["base"], ranged["two"], 50)  # type: ignore[attr-defined]
        assert [c.id for c in commits] == [ranged["two"], ranged["one"]], name  # newest first
        assert total == 2, name
        two, one = commits
        assert one.author_email == "ada@example.com" and one.timestamp is not None, name
        assert two.author_email == "bob@example.com" and two.committer_email, name
        # The trailer sits after a long subject: Azure DevOps cuts list comments, the source reads it whole.
        assert two.co_authors == ["carol@contoso.example"], name
        assert "carol@contoso.example" in two.people() and "bob" in " ".join(two.people()), name
        assert src.commits_between(ranged["two"], ranged["base"], 50) == ([], 0), name  # type: ignore[attr-defined]
        listed, total = src.commits_between(ranged["base"], ranged["two"], 1)  # type: ignore[attr-defined]
        assert len(listed) == 1 and total == 2, name
    assert githost.server.counters.count("ado.commitsbatch") >= 1
    assert githost.server.counters.count("gl.compare") >= 1


def test_github_compare_is_read_page_by_page(repo, githost, ranged):
    """The compare API lists 250 commits at most in one answer: beyond, per_page/page pages."""
    base = ranged["two"]
    for n in range(130):
        repo.git("commit", "-q", "--allow-empty", "-m", f"empty {n}")
    head = repo.git("rev-parse", "HEAD")
    src = GitHubSource("https://github.com/contoso/data-platform", "ghp-test-token", githost.url)
    before = githost.server.counters.count("gh.compare")
    commits, total = src.commits_between(base, head, 1000)
    assert total == 130 and len(commits) == 130 and commits[0].id == head
    assert len({c.id for c in commits}) == 130
    assert githost.server.counters.count("gh.compare") - before == 2  # pages of 100


# ------------------------------------------------- a commit's history (a first deployment carries it)
def test_every_source_lists_the_history_of_a_commit_with_its_people(repo, githost, ranged):
    """Nothing deployed yet: a deployment carries the head's history, newest first, as far as the limit."""
    every = repo.git("rev-list", ranged["two"]).split()
    for name, src in _sources(repo, githost).items():
        commits, total = src.history(ranged["two"], 50)  # type: ignore[attr-defined]
        assert [c.id for c in commits] == every, name
        assert total == len(every), name  # read to the root commit: the whole history
        two, one = commits[:2]
        assert one.author_email == "ada@example.com" and one.timestamp is not None, name
        assert two.co_authors == ["carol@contoso.example"], name
        listed, total = src.history(ranged["two"], 2)  # type: ignore[attr-defined]
        assert [c.id for c in listed] == every[:2], name
        # More than the limit: the total when the host says it, else None ("more"), never the listed count.
        assert total is None or total == len(every), name
        if name == "local":
            assert total == len(every)
    assert githost.server.counters.count("gh.commits") >= 1 and githost.server.counters.count("gl.commits") >= 1


def _many(repo: LocalRepo, n: int) -> str:
    for i in range(n):
        repo.git("commit", "-q", "--allow-empty", "-m", f"empty {i}")
    return repo.git("rev-parse", "HEAD")


def test_history_is_read_page_by_page_as_the_hosts_paginate(repo, githost, ranged):
    """GitHub (``Link: rel="next"``), GitLab (``X-Next-Page``, no ``X-Total`` on commit lists) and
    Azure DevOps (``$top``/``$skip``) serve 100 commits a page at most; the sources follow the pages."""
    head = _many(repo, 230)
    every = repo.git("rev-list", head).split()
    for name, src in _sources(repo, githost).items():
        if name == "local":
            continue
        route = {"github": "gh.commits", "gitlab": "gl.commits", "azure-devops": "ado.commitsbatch"}[name]
        before = githost.server.counters.count(route)
        commits, total = src.history(head, 1000)  # type: ignore[attr-defined]
        assert [c.id for c in commits] == every and total == len(every), name
        assert githost.server.counters.count(route) - before == 3, name  # 100 + 100 + the rest
        before = githost.server.counters.count(route)
        commits, total = src.history(head, 150)  # type: ignore[attr-defined]
        assert [c.id for c in commits] == every[:150] and total is None, name  # more, count unknown
        assert githost.server.counters.count(route) - before == 2, name


def test_the_stand_in_paginates_commit_lists_like_github_and_gitlab(repo, githost, ranged):
    head = _many(repo, 120)
    auth = {"Authorization": "Bearer ghp-test-token"}
    url = f"{githost.url}/repos/contoso/data-platform/commits"
    first = requests.get(url, params={"sha": head, "per_page": 500}, headers=auth, timeout=10)
    assert first.status_code == 200 and len(first.json()) == 100  # per_page is capped at 100
    assert first.json()[0]["sha"] == head and "login" in first.json()[0]["author"]
    assert "next" in first.links and "page=2" in first.links["next"]["url"]
    last = requests.get(url, params={"sha": head, "per_page": 100, "page": 2}, headers=auth, timeout=10)
    assert len(last.json()) == len(repo.git("rev-list", head).split()) - 100 and "next" not in last.links
    assert requests.get(url, params={"sha": "nope"}, headers=auth, timeout=10).status_code == 404
    assert len(requests.get(url, params={"sha": head}, headers=auth, timeout=10).json()) == 30  # the default page

    gl = f"{githost.url}/api/v4/projects/contoso%2Fdata-platform/repository/commits"
    tok = {"PRIVATE-TOKEN": "ghp-test-token"}
    page = requests.get(gl, params={"ref_name": head, "per_page": 100}, headers=tok, timeout=10)
    assert page.status_code == 200 and len(page.json()) == 100 and page.headers["X-Next-Page"] == "2"
    assert "X-Total" not in page.headers and "X-Total-Pages" not in page.headers  # commit lists are not counted
    assert page.json()[0]["id"] == head and page.json()[0]["author_email"] == "ada@example.com"
    end = requests.get(gl, params={"ref_name": head, "per_page": 100, "page": 2}, headers=tok, timeout=10)
    assert end.headers["X-Next-Page"] == "" and end.headers["X-Page"] == "2"
    unknown = requests.get(gl, params={"ref_name": "nope"}, headers=tok, timeout=10)
    assert unknown.status_code == 200 and unknown.json() == []  # GitLab lists nothing for a ref it does not know
