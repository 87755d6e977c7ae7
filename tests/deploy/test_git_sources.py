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
