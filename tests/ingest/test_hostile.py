"""Signed bad input is a 4xx before anything is written; names too long for Table keys are hashed to fit."""

from __future__ import annotations

import json

import pytest

from shared.audit import AuditLedger
from shared.storage import StorageAccount

from .helpers import (
    ADO,
    azure_devops,
    azure_devops_push,
    github,
    github_push,
    gitlab,
    gitlab_push,
    post,
    serving,
)


def writes(storage: StorageAccount) -> int:
    """Everything the app wrote to its storage: table rows, queue messages, blobs."""
    n = sum(len(list(storage.table(t).list_entities())) for t in storage.names.tables())
    n += sum(int(storage.queue(q).get_queue_properties().approximate_message_count or 0)
             for q in storage.names.queues())
    n += sum(len(list(storage.container(c).list_blobs())) for c in storage.names.containers())
    return n


def nested(depth: int) -> bytes:
    push = json.dumps(github_push())
    return (push[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}").encode()


HOSTILE = {
    "nested 1000 deep": nested(1000),
    "nested 65 deep": nested(65),
    "unbalanced [ in the clone URL": json.dumps(github_push(repository={
        "full_name": "contoso/data-platform", "clone_url": "https://[github.com/contoso/data-platform.git"})).encode(),
    "port that is not a number": json.dumps(github_push(repository={
        "clone_url": "https://github.com:99999999/contoso/data-platform.git"})).encode(),
    "ref of 40,000 characters": json.dumps(github_push(ref="refs/heads/" + "m" * 40_000)).encode(),
    "URL of 100,000 characters": json.dumps(github_push(repository={
        "clone_url": "https://github.com/" + "x" * 100_000})).encode(),
    "newline in the ref": json.dumps(github_push(ref="refs/heads/main\n")).encode(),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_signed_hostile_github_bodies_are_4xx_and_write_nothing(gh: AuditLedger, storage, case: str) -> None:
    status, answer = post("github", *github(HOSTILE[case]))
    assert 400 <= status < 500, (status, answer)
    assert answer["error"] and answer["message"]
    assert writes(storage) == 0


def test_a_deep_body_is_refused_before_parsing_whatever_the_route(gh: AuditLedger, storage) -> None:
    for route, (headers, body) in (("azure-devops", azure_devops(b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}")),
                                   ("gitlab", gitlab(b"[" * 100_000))):
        status, answer = post(route, headers, body)
        assert status == 400 and "deeper than" in answer["message"], answer
    assert writes(storage) == 0


def test_long_fields_in_other_sources_are_4xx(storage, clock) -> None:
    for provider, url, route, build in (
            ("azure-devops", ADO, "azure-devops",
             lambda: azure_devops(json.dumps(azure_devops_push(ref="refs/heads/" + "r" * 5000)).encode())),
            ("gitlab", "https://gitlab.com/contoso/platform.git", "gitlab",
             lambda: gitlab(json.dumps(gitlab_push(url="https://[gitlab.com/contoso/platform.git")).encode())),
            ("gitlab", "https://gitlab.com/contoso/platform.git", "gitlab",
             lambda: gitlab(json.dumps(gitlab_push()).encode(), delivery="u" * 201))):
        with serving(storage, clock, provider, url):
            status, answer = post(route, *build())
        assert 400 <= status < 500, (provider, status, answer)
    assert writes(storage) == 0


def test_a_delivery_id_that_escapes_past_the_key_limit_is_hashed_to_fit(gh: AuditLedger, storage) -> None:
    delivery = "/" * 200  # safe_key makes it 600 characters: more than a Table key holds
    headers, body = github(github_push(), delivery=delivery)
    status, answer = post("github", headers, body)
    assert status == 202 and answer["status"] == "queued", answer
    status, again = post("github", headers, body)
    assert status == 202 and again["status"] == "duplicate"
    assert sorted(again["deployments"]) == sorted(answer["deployments"])


def test_long_author_and_messages_are_cut_not_refused(gh: AuditLedger, storage) -> None:
    payload = github_push()
    payload["commits"][0]["message"] = "m" * 100_000
    payload["commits"][0]["author"] = {"username": "u" * 10_000}
    payload["sender"] = {"login": "s" * 10_000}
    status, answer = post("github", *github(payload))
    assert status == 202, answer
    rec = gh.get_deployment(answer["deployments"][0])
    assert rec.actor is not None and len(rec.actor) <= 256
    assert len(rec.commits[0].author or "") <= 256


def test_an_ignored_event_with_a_huge_delivery_header_is_not_a_5xx(gh: AuditLedger, storage) -> None:
    headers, body = github({"zen": "hi"}, event="issues", delivery="d" * 60_000)
    status, answer = post("github", headers, body)
    assert status == 202 and answer["status"] == "ignored"


def test_long_object_names_are_recorded_with_keys_that_fit(ledger: AuditLedger) -> None:
    from shared.audit.records import DeploymentRecord, ObjectResult

    rec, _ = ledger.create_deployment(DeploymentRecord(
        id=ledger.new_deployment_id("dev", "notebooks", "long"), environment="dev", component="notebooks",
        commit="a" * 40))
    name = "/Shared/dev/" + "/".join(["segment" * 30] * 19)  # ~4,000 characters
    results = [ObjectResult("notebook", name + str(i), "create", "succeeded") for i in range(3)]
    assert ledger.record_objects(rec.id, results, "import") == 3
    assert sorted(o.name for o in ledger.objects(rec.id)) == sorted(r.name for r in results)
