"""The webhook routes end to end through the dev host's dispatch, against Azurite."""

from __future__ import annotations

import threading

import pytest

from shared.audit import AuditLedger
from shared.deploy.queue import DeploymentQueue
from shared.ingest.intake import MAX_BODY, WEBHOOK_PARTITION
from shared.storage import StorageAccount

from .helpers import (
    ADO,
    GL,
    azure_devops,
    azure_devops_push,
    github,
    github_push,
    gitlab,
    gitlab_push,
    post,
    queued,
    serving,
)


def test_github_push_is_recorded_then_queued_with_the_trace(gh: AuditLedger, storage, spans):
    headers, body = github(github_push())
    status, answer = post("github", headers, body)
    assert status == 202 and answer["status"] == "queued"
    assert len(answer["deployments"]) == 2  # dev and test deploy on push
    for did in answer["deployments"]:
        rec = gh.get_deployment(did)
        assert (rec.status, rec.trigger, rec.actor, rec.commit) == ("queued", "push", "ada", "b" * 40)
        # The pusher is a git host login, not an identity Entra verified.
        assert (rec.actor_verified, rec.actor_source) == (False, "git:github")
        assert rec.commit_time is not None and rec.delivery_id == headers["X-GitHub-Delivery"]
        assert rec.commits[0].message == "Add notebook"
    reqs = DeploymentQueue(storage).peek()
    assert sorted(r.deployment_id for r in reqs) == sorted(answer["deployments"])
    assert all(r.component == "notebooks" and "traceparent" in r.trace for r in reqs)


def test_redelivery_and_concurrent_duplicates_make_one_deployment(gh: AuditLedger, storage):
    headers, body = github(github_push(), delivery="same-delivery")
    answers: list[tuple[int, dict]] = []
    threads = [threading.Thread(target=lambda: answers.append(post("github", headers, body))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(answers) == 8 and all(s == 202 for s, _ in answers)
    assert sum(a["status"] == "queued" for _, a in answers) == 1
    assert queued(storage) == 2  # one request per environment, once
    ids = {d for _, a in answers for d in a["deployments"]}
    assert len(ids) == 2
    assert len(gh.list_deployments("dev").items) == 1


def test_ping_answers_and_queues_nothing(gh, storage):
    status, answer = post("github", *github({"zen": "hi", "hook_id": 1}, event="ping"))
    assert status == 200 and answer["status"] == "pong" and queued(storage) == 0


@pytest.mark.parametrize("ref", ["refs/heads/feature", "refs/tags/v1"])
def test_other_refs_are_ignored_and_recorded(gh: AuditLedger, storage, ref: str):
    headers, body = github(github_push(ref=ref))
    status, answer = post("github", headers, body)
    assert status == 202 and answer["status"] == "ignored" and answer["reason"]
    assert queued(storage) == 0 and gh.list_deployments("dev").items == []
    acts = gh.list_activity(WEBHOOK_PARTITION).items
    assert len(acts) == 1 and acts[0].summary == answer["reason"] and acts[0].kind == "webhook_ignored"


def test_other_repository_is_ignored(gh, storage):
    status, answer = post("github", *github(github_push(repo="evil/fork")))
    assert status == 202 and "not the configured repository" in answer["reason"] and queued(storage) == 0


def test_unsupported_event_is_ignored(gh, storage):
    status, answer = post("github", *github({"action": "opened"}, event="pull_request"))
    assert status == 202 and answer["status"] == "ignored" and queued(storage) == 0


def test_a_merged_pull_request_without_branch_workspaces_is_ignored(gh, storage):
    payload = {"action": "closed", "number": 3, "repository": github_push()["repository"],
               "pull_request": {"number": 3, "merged": True, "merge_commit_sha": "c" * 40,
                                "head": {"ref": "feature/x", "sha": "b" * 40, "repo": {"id": 1}},
                                "base": {"ref": "main", "sha": "a" * 40, "repo": {"id": 1}}}}
    status, answer = post("github", *github(payload, event="pull_request"))
    assert status == 202 and answer["status"] == "ignored" and queued(storage) == 0
    assert "branch_workspaces is not configured" in answer["reason"]
    status, answer = post("github", *github({**payload, "pull_request": "x"}, event="pull_request"))
    assert status == 400 and answer["error"] == "invalid_payload" and queued(storage) == 0


@pytest.mark.parametrize(("mutate", "code"), [
    (lambda h, b: ({**h, "X-Hub-Signature-256": "sha256=" + "0" * 64}, b), 401),
    (lambda h, b: ({k: v for k, v in h.items() if k != "X-Hub-Signature-256"}, b), 401),
    (lambda h, b: github(b"{not json")[0:2], 400),
    (lambda h, b: github(b"[1, 2]")[0:2], 400),
    (lambda h, b: github({**github_push(), "after": 5}), 400),
    (lambda h, b: github({**github_push(), "repository": "x"}), 400),
])
def test_bad_input_is_a_4xx_and_changes_nothing(gh: AuditLedger, storage, mutate, code):
    headers, body = mutate(*github(github_push()))
    status, answer = post("github", headers, body)
    assert status == code and set(answer) >= {"error", "message"}
    assert queued(storage) == 0 and gh.list_deployments("dev").items == []


def test_body_over_25_mb_is_413(gh, storage):
    body = b" " * (MAX_BODY + 1)
    status, answer = post("github", *github(body))
    assert status == 413 and answer["error"] == "payload_too_large" and queued(storage) == 0


def test_azure_devops_basic_auth_and_push(storage, clock):
    with serving(storage, clock, "azure-devops", ADO):
        status, _ = post("azure-devops", *azure_devops(azure_devops_push(), password="wrong"))
        assert status == 401 and queued(storage) == 0
        status, _ = post("azure-devops", {"Authorization": "Basic !!!"}, b"{}")
        assert status == 401
        payload = azure_devops_push(ref="refs/heads/adf_publish")
        status, answer = post("azure-devops", *azure_devops(payload))
        assert status == 202 and answer["status"] == "queued" and queued(storage) == 2
        assert {r.component for r in DeploymentQueue(storage).peek()} == {"adf"}
        status, answer = post("azure-devops", *azure_devops(payload))  # the same notification id again
        assert answer["status"] == "duplicate" and queued(storage) == 2
        status, answer = post("azure-devops", *azure_devops({**payload, "eventType": "git.pullrequest.created"}))
        assert status == 202 and answer["status"] == "ignored"


def test_gitlab_token_and_push(storage, clock):
    with serving(storage, clock, "gitlab", GL):
        status, _ = post("gitlab", *gitlab(gitlab_push(), token="nope"))
        assert status == 401
        status, answer = post("gitlab", *gitlab(gitlab_push()))
        assert status == 202 and answer["status"] == "queued" and queued(storage) == 2
        status, answer = post("gitlab", *gitlab({"object_kind": "tag_push"}, event="Tag Push Hook"))
        assert status == 202 and answer["status"] == "ignored"


def test_storage_unavailable_is_503_so_the_sender_retries(azurite, clock):
    from shared.settings import StorageNames

    dead = StorageAccount(connection_string=(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey="
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
        "BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;"
        "TableEndpoint=http://127.0.0.1:9/devstoreaccount1;"), names=StorageNames(prefix="tdead"))
    with serving(dead, clock):
        status, answer = post("github", *github(github_push()))
    assert status == 503 and answer["error"] == "unavailable"


def test_a_late_redelivery_finishes_the_work_of_a_receiver_that_died(storage, clock):
    import time

    from shared.claims import Claims
    from shared.ingest.intake import CLAIM_SCOPE

    with serving(storage, clock, settings={"DATAOPS_WEBHOOK_BUDGET_S": "1"}) as ctx:
        headers, body = github(github_push(), delivery="died-after-claim")
        did = ctx.ledger.new_deployment_id("dev", "notebooks", "x")
        # The first receiver claimed the delivery and died before recording or queuing anything.
        pending = {"deployments": {"dev/notebooks": did}, "state": "pending", "t": time.time()}
        Claims(storage).claim(CLAIM_SCOPE, "github:died-after-claim", pending)
        t0 = time.monotonic()
        status, answer = post("github", headers, body)
        # Too early to tell (it may be working): not acknowledged, and within the budget.
        assert status == 503 and answer["error"] == "delivery_in_progress" and queued(storage) == 0
        assert time.monotonic() - t0 < 2.0
        Claims(storage).put(CLAIM_SCOPE, "github:died-after-claim", {**pending, "t": time.time() - 5})
        status, answer = post("github", headers, body)
        assert status == 202 and answer["status"] == "recovered" and answer["deployments"] == [did]
        assert queued(storage) == 1 and ctx.ledger.get_deployment(did).status == "queued"
        status, answer = post("github", headers, body)
        assert answer["status"] == "duplicate" and queued(storage) == 1  # finished: not sent again
