"""A signed body replayed under a new delivery id is the same delivery (body digest, provider ids)."""

from __future__ import annotations

import json
import uuid

from shared.storage import StorageAccount

from .helpers import (
    ADO,
    GH,
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


def deliver(storage: StorageAccount, clock, provider: str, url: str, route: str,
            messages: list[tuple[dict, bytes]], settings: dict[str, str] | None = None) -> list[tuple[int, dict]]:
    with serving(storage, clock, provider, url, settings):
        return [post(route, h, b) for h, b in messages]


def test_github_body_replayed_under_a_new_delivery_id_is_a_duplicate(storage, clock) -> None:
    payload = github_push()
    first = github(payload, delivery=str(uuid.uuid4()))
    replay = github(first[1], delivery=str(uuid.uuid4()))  # the same signed bytes, another id
    (s1, a1), (s2, a2) = deliver(storage, clock, "github", GH, "github", [first, replay])
    assert s1 == 202 and a1["status"] == "queued"
    assert s2 == 202 and a2["status"] == "duplicate", a2
    assert sorted(a2["deployments"]) == sorted(a1["deployments"])
    assert a2["replay_of"] == f"github:{first[0]['X-GitHub-Delivery']}"
    assert queued(storage) == 2  # dev and test, once
    another = github(github_push(after="c" * 40))  # a different push is not a replay
    ((s3, a3),) = deliver(storage, clock, "github", GH, "github", [another])
    assert s3 == 202 and a3["status"] == "queued" and queued(storage) == 4


def test_azure_devops_push_id_is_the_same_push_under_any_notification_id(storage, clock) -> None:
    url = ADO

    def notification() -> dict:
        p = azure_devops_push(url=url)  # a new notification id each time
        p["resource"]["pushId"] = 4711
        p["resource"]["repository"]["id"] = "278d5cd2-584d-4b63-824a-2ba458937249"
        return p

    answers = deliver(storage, clock, "azure-devops", url, "azure-devops",
                      [azure_devops(notification()), azure_devops(notification())])
    assert [a["status"] for _, a in answers] == ["queued", "duplicate"]
    assert queued(storage) == 2


def test_gitlab_idempotency_key_is_the_same_webhook_across_retries(storage, clock) -> None:
    url = "https://gitlab.com/contoso/platform.git"
    key = str(uuid.uuid4())
    messages = []
    for n in range(2):
        h, b = gitlab(json.dumps({**gitlab_push(url=url), "retry": n}).encode())  # bodies differ
        messages.append(({**h, "X-Gitlab-Idempotency-Key": key}, b))
    answers = deliver(storage, clock, "gitlab", url, "gitlab", messages)
    assert [a["status"] for _, a in answers] == ["queued", "duplicate"]
    assert queued(storage) == 2


def test_outside_the_replay_window_the_same_body_is_new(storage, clock) -> None:
    first = github(github_push())
    replay = github(first[1])
    answers = deliver(storage, clock, "github", GH, "github", [first, replay],
                      settings={"DATAOPS_WEBHOOK_REPLAY_WINDOW_S": "0"})
    assert [a["status"] for _, a in answers] == ["queued", "queued"]
    assert queued(storage) == 4
