"""Squash and rebase merges: the merged pull request's event names the source branch, and its folder goes.

A squash or rebase merge makes new commits on main, so the branch head is not reachable from main and
the merge check of a push to main cannot see it. The pull request events say it: GitHub ``pull_request``
(``closed``, ``merged: true``), Azure DevOps ``git.pullrequest.merged`` / ``git.pullrequest.updated``
(``completed``, ``mergeStatus: succeeded``), GitLab Merge Request Hook (``action: merge``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.branches.registry import BranchRegistry
from shared.deploy.queue import DeploymentQueue
from shared.ingest.intake import MAX_BODY
from tests.ingest.helpers import github

from .conftest import NB, USERS, ZERO, World, pr_payload

SOURCES = ["github", "azure-devops", "gitlab"]


def folder(source: str, name: str) -> str:
    return f"/Users/{USERS[source]}/branches/{name}"


def _workspace(w: World, source: str, branch: str = "feature/login") -> tuple[str, str]:
    """A branch with its folder synced; returns (head, folder)."""
    sha = w.repo.commit({"notebooks/etl/login.py": NB + "print('v1')\n"}, "login", branch=branch)
    status, answer = w.push(source, branch, ZERO, sha)
    assert status == 202 and answer["status"] == "queued", answer
    w.drain()
    where = folder(source, branch.replace("/", "-"))
    assert w.standin.exists(f"{where}/etl/login")
    return sha, where


def _merge(w: World, how: str, branch: str, head: str) -> str:
    """Merge ``branch`` into main as the hosts' squash or rebase merge does: new commits, none of the branch's."""
    repo = w.repo
    repo.commit({"notebooks/other.py": NB + "print('other work')\n"}, "other work on main", branch="main")
    if how == "squash":
        repo.git("merge", "-q", "--squash", branch)
        repo.git("commit", "-q", "-m", f"Login ({branch}) (#7)")
    else:
        repo.git("cherry-pick", head)
    return repo.git("rev-parse", "HEAD")


def _removals(w: World) -> list[Any]:
    return [r for r in w.ctx.ledger.list_deployments("dev").items if r.extra.get("action") == "remove"]


@pytest.mark.parametrize("how", ["squash", "rebase"])
@pytest.mark.parametrize("source", SOURCES)
def test_a_squash_or_rebase_merged_pull_request_removes_the_branch_folder(world: World, source: str,
                                                                          how: str) -> None:
    w, repo = world, world.repo
    main0 = repo.git("rev-parse", "main")
    head, where = _workspace(w, source)
    merged = _merge(w, how, "feature/login", head)
    proc = repo.git("branch", "--contains", head)
    assert "main" not in proc.split()  # the branch head is not in main: the push's merge check cannot see it

    # the push to main deploys main; its merge check finds nothing merged: the folder is still there
    status, answer = w.push(source, "main", main0, merged)
    assert status == 202 and answer["status"] == "queued", answer
    w.drain()
    assert w.standin.exists(where)
    assert BranchRegistry(w.storage).get("feature/login").state == "active"

    # the merged pull request names the branch: its folder is removed
    status, answer = w.pull_request(source, pr_payload(source, "feature/login", head, merged))
    assert status == 202 and answer["status"] == "queued", answer
    (did,) = answer["deployments"]
    w.drain()
    assert not w.standin.exists(where)
    entry = BranchRegistry(w.storage).get("feature/login")
    assert entry is not None and (entry.state, entry.removal_reason, entry.removal_deployment_id) == \
        ("removed", "merged", did)
    rec = w.deployment(did)
    assert (rec.status, rec.trigger, rec.component, rec.extra["action"], rec.extra["reason"]) == \
        ("succeeded", "branch", "notebooks", "remove", "merged")
    assert rec.extra["pull_request"] == 7 and rec.extra["source_head"] == head
    assert rec.extra["merge_commit"] == merged and rec.actor_source == f"git:{source}"
    assert [(o.name, o.action, o.status) for o in w.ctx.ledger.objects(did)] == \
        [(where, "delete", "succeeded")]

    # the branch deleted afterwards: nothing left to remove, nothing queued
    status, answer = w.push(source, "feature/login", head, ZERO)
    assert status == 202 and answer["status"] == "ignored" and "no branch workspace" in answer["reason"], answer
    assert DeploymentQueue(w.storage).peek() == [] and len(_removals(w)) == 1


@pytest.mark.parametrize("first", ["pull_request", "deletion"])
def test_the_merge_event_and_the_deletion_remove_the_folder_once(world: World, first: str) -> None:
    w = world
    head, where = _workspace(w, "github")
    merged = _merge(w, "squash", "feature/login", head)
    events = {"pull_request": lambda: w.pull_request("github", pr_payload("github", "feature/login", head, merged)),
              "deletion": lambda: w.push("github", "feature/login", head, ZERO)}
    second = "deletion" if first == "pull_request" else "pull_request"
    status, answer = events[first]()
    assert status == 202 and answer["status"] == "queued", answer
    (did,) = answer["deployments"]
    status, again = events[second]()
    assert status == 202 and again["status"] == "ignored" and again["removal"] == did, again
    assert "already being removed" in again["reason"]
    w.drain()
    assert not w.standin.exists(where)
    assert [r.id for r in _removals(w)] == [did] and w.deployment(did).status == "succeeded"
    assert w.deployment(did).extra["reason"] == ("merged" if first == "pull_request" else "deleted")


def test_the_same_merge_notified_twice_is_removed_once(world: World) -> None:
    w = world
    head, where = _workspace(w, "azure-devops")
    merged = _merge(w, "squash", "feature/login", head)
    payload = pr_payload("azure-devops", "feature/login", head, merged)
    status, answer = w.pull_request("azure-devops", payload)
    assert status == 202 and answer["status"] == "queued", answer
    # the same notification again, and "pull request updated" for its completion: one removal
    for again in (payload, {**payload, "id": "6872ee8c-b333-4eff-bfb9-0d5274943566",
                            "eventType": "git.pullrequest.updated"}):
        status, dup = w.pull_request("azure-devops", again)
        assert status == 202 and dup["status"] in ("duplicate", "ignored"), dup
        assert DeploymentQueue(w.storage).peek().__len__() == 1
    w.drain()
    assert not w.standin.exists(where) and len(_removals(w)) == 1


def test_a_push_after_the_merge_keeps_the_folder(world: World) -> None:
    """The branch is pushed again before the removal runs: new work, the folder stays and is synced."""
    w, repo = world, world.repo
    head, where = _workspace(w, "github")
    merged = _merge(w, "squash", "feature/login", head)
    status, answer = w.pull_request("github", pr_payload("github", "feature/login", head, merged))
    assert status == 202 and answer["status"] == "queued", answer
    (did,) = answer["deployments"]
    again = repo.commit({"notebooks/etl/login.py": NB + "print('v2')\n"}, "more", branch="feature/login")
    assert w.push("github", "feature/login", head, again)[0] == 202
    w.drain()
    rec = w.deployment(did)
    assert rec.status == "superseded" and "pushed again" in rec.error, rec.error
    assert b"print('v2')" in w.standin.read_source(f"{where}/etl/login")
    entry = BranchRegistry(w.storage).get("feature/login")
    assert entry.state == "active" and entry.synced_commit == again


def test_a_merge_of_a_head_the_webhook_never_saw_still_removes_the_folder(world: World) -> None:
    """The branch's last push was not delivered: the merged head contains the head the product knows."""
    w, repo = world, world.repo
    _head, where = _workspace(w, "gitlab")
    newer = repo.commit({"notebooks/etl/login.py": NB + "print('v2')\n"}, "more", branch="feature/login")
    merged = _merge(w, "squash", "feature/login", newer)
    status, answer = w.pull_request("gitlab", pr_payload("gitlab", "feature/login", newer, merged))
    assert status == 202 and answer["status"] == "queued", answer
    w.drain()
    assert w.deployment(answer["deployments"][0]).status == "succeeded" and not w.standin.exists(where)


@pytest.mark.parametrize("source", SOURCES)
def test_a_pull_request_closed_without_merging_keeps_the_folder(world: World, source: str) -> None:
    w = world
    head, where = _workspace(w, source)
    before = len(w.ctx.ledger.list_deployments("dev").items)
    status, answer = w.pull_request(source, pr_payload(source, "feature/login", head, None, merged=False))
    assert status == 202 and answer["status"] == "ignored", answer
    assert "without merging" in answer["reason"] and "stays" in answer["reason"]
    assert w.standin.exists(where) and DeploymentQueue(w.storage).peek() == []
    assert len(w.ctx.ledger.list_deployments("dev").items) == before
    assert BranchRegistry(w.storage).get("feature/login").state == "active"
    acts = [a for a in w.ctx.ledger.list_activity("_webhooks").items if a.kind == "webhook_ignored"]
    assert acts and acts[0].summary == answer["reason"]


@pytest.mark.parametrize(("source", "change", "why"), [
    ("github", {"fork": True}, "fork"),
    ("azure-devops", {"fork": True}, "fork"),
    ("gitlab", {"fork": True}, "fork"),
    ("github", {"target": "release/1.0"}, "not the main branch"),
    ("gitlab", {"target": "develop"}, "not the main branch"),
])
def test_merges_that_do_not_merge_the_branch_into_main_keep_the_folder(world: World, source: str,
                                                                       change: dict[str, Any], why: str) -> None:
    w = world
    head, where = _workspace(w, source)
    status, answer = w.pull_request(source, pr_payload(source, "feature/login", head, "c" * 40, **change))
    assert status == 202 and answer["status"] == "ignored" and why in answer["reason"], answer
    assert w.standin.exists(where) and DeploymentQueue(w.storage).peek() == []
    assert BranchRegistry(w.storage).get("feature/login").state == "active"


def test_pull_requests_that_concern_no_branch_workspace_are_ignored(world: World) -> None:
    w = world
    _head, where = _workspace(w, "github")
    for branch, why in (("feature/other", "has no branch workspace"), ("hotfix/x", "no branch workspace")):
        status, answer = w.pull_request("github", pr_payload("github", branch, "a" * 40, "c" * 40))
        assert status == 202 and answer["status"] == "ignored" and why in answer["reason"], answer
    # Azure DevOps also says "merged" for the trial merge of an active pull request: not a completion
    payload = pr_payload("azure-devops", "feature/login", "a" * 40, "c" * 40)
    payload["resource"]["status"] = "active"
    status, answer = w.pull_request("azure-devops", payload)
    assert status == 202 and answer["status"] == "ignored" and "not completed" in answer["reason"], answer
    # other pull request actions
    status, answer = w.pull_request("github", {**pr_payload("github", "feature/login", "a" * 40, None),
                                               "action": "opened"})
    assert status == 202 and answer["status"] == "ignored" and "opened" in answer["reason"], answer
    assert w.standin.exists(where) and DeploymentQueue(w.storage).peek() == []


def _gh(p: dict[str, Any], *path: str) -> dict[str, Any]:
    for k in path:
        p = p[k]
    return p


def _hostile() -> list[tuple[str, Any, int, str]]:
    def mutated(source: str) -> Any:
        def with_change(mutate: Any) -> Any:
            def build(head: str) -> Any:
                p = pr_payload(source, "feature/login", head, "c" * 40)
                mutate(p)
                return p
            return build
        return with_change

    gh, azdo, gl = mutated("github"), mutated("azure-devops"), mutated("gitlab")
    return [
        ("github", gh(lambda p: p.pop("pull_request")), 400, "invalid_payload"),
        ("github", gh(lambda p: _gh(p, "pull_request", "head").pop("ref")), 400, "invalid_payload"),
        ("github", gh(lambda p: _gh(p, "pull_request", "head").update(sha="not-a-commit")), 400, "invalid_payload"),
        ("github", gh(lambda p: _gh(p, "pull_request").update(merged="yes")), 400, "invalid_payload"),
        ("github", gh(lambda p: _gh(p, "pull_request").update(number="7; drop")), 400, "invalid_payload"),
        ("github", gh(lambda p: _gh(p, "pull_request", "head").update(ref="feature/x\n")), 400, "invalid_payload"),
        ("github", gh(lambda p: _gh(p, "pull_request", "head").update(ref="feature/login/" + "x" * 2000)), 400,
         "field_too_long"),
        ("github", gh(lambda p: _gh(p, "pull_request", "head").update(
            ref="feature/../../../Shared/dev/data-platform")), 400, "invalid_branch_name"),
        ("github", gh(lambda p: _gh(p, "pull_request", "head").update(ref="feature/\u2215login")), 400,
         "invalid_branch_name"),
        ("azure-devops", azdo(lambda p: _gh(p, "resource").pop("sourceRefName")), 400, "invalid_payload"),
        ("azure-devops", azdo(lambda p: _gh(p, "resource").update(sourceRefName="refs/tags/v1")), 400,
         "invalid_payload"),
        ("azure-devops", azdo(lambda p: _gh(p, "resource").update(pullRequestId=None)), 400, "invalid_payload"),
        ("azure-devops", azdo(lambda p: _gh(p, "resource").pop("lastMergeSourceCommit")), 400, "invalid_payload"),
        ("azure-devops", azdo(lambda p: _gh(p, "resource").update(
            sourceRefName="refs/heads/feature/x\u202e")), 400, "invalid_branch_name"),
        ("gitlab", gl(lambda p: p.pop("object_attributes")), 400, "invalid_payload"),
        ("gitlab", gl(lambda p: _gh(p, "object_attributes").update(source_branch=["feature/login"])), 400,
         "invalid_payload"),
        ("gitlab", gl(lambda p: _gh(p, "object_attributes").update(last_commit={"id": 5})), 400,
         "invalid_payload"),
        ("gitlab", gl(lambda p: _gh(p, "object_attributes").update(source_branch="feature//login")), 400,
         "invalid_branch_name"),
    ]


@pytest.mark.parametrize(("source", "build", "status", "code"), _hostile())
def test_hostile_pull_request_events_are_a_4xx_and_change_nothing(world: World, source: str, build: Any,
                                                                 status: int, code: str) -> None:
    w = world
    head, where = _workspace(w, source)
    before = [r.id for r in w.ctx.ledger.list_deployments("dev").items]
    got, answer = w.pull_request(source, build(head))
    assert (got, answer.get("error")) == (status, code), answer
    assert answer["message"] and "Traceback" not in json.dumps(answer)
    assert [r.id for r in w.ctx.ledger.list_deployments("dev").items] == before
    assert DeploymentQueue(w.storage).peek() == [] and w.standin.exists(where)
    assert BranchRegistry(w.storage).get("feature/login").state == "active"


def test_unsigned_or_huge_pull_request_events_are_refused(world: World) -> None:
    w = world
    head, where = _workspace(w, "github")
    headers, body = github(pr_payload("github", "feature/login", head, "c" * 40), event="pull_request")
    for h, b, want in (({**headers, "X-Hub-Signature-256": "sha256=" + "0" * 64}, body, 401),
                       (headers, b" " * (MAX_BODY + 1), 413)):
        status, _, data = w.host.dispatch("POST", "http://localhost/api/hooks/github", h, b)
        assert status == want, data
    assert DeploymentQueue(w.storage).peek() == [] and w.standin.exists(where)
    assert BranchRegistry(w.storage).get("feature/login").state == "active"
