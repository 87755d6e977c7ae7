"""Property tests: mutated payloads and headers never get a 5xx, and invalid input never queues work."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .helpers import (
    ADO,
    GL,
    azure_devops,
    azure_devops_push,
    dispatch,
    github,
    github_push,
    gitlab,
    gitlab_push,
    queued,
    serving,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8)

GITHUB_PATHS = [("ref",), ("before",), ("after",), ("deleted",), ("forced",), ("repository",),
                ("repository", "clone_url"), ("repository", "full_name"), ("commits",), ("commits", 0),
                ("commits", 0, "id"), ("commits", 0, "timestamp"), ("commits", 0, "author"), ("pusher",),
                ("sender",), ("sender", "login")]
ADO_PATHS = [("id",), ("eventType",), ("resource",), ("resource", "refUpdates"), ("resource", "refUpdates", 0),
             ("resource", "refUpdates", 0, "name"), ("resource", "refUpdates", 0, "newObjectId"),
             ("resource", "commits"), ("resource", "commits", 0, "author"), ("resource", "repository"),
             ("resource", "pushedBy")]
GITLAB_PATHS = [("ref",), ("after",), ("before",), ("project",), ("project", "git_http_url"), ("commits",),
                ("commits", 0, "timestamp"), ("user_username",), ("object_kind",)]


def _mutate(payload: dict[str, Any], path: tuple[Any, ...], value: Any, delete: bool) -> dict[str, Any]:
    out = copy.deepcopy(payload)
    node: Any = out
    for key in path[:-1]:
        node = node[key]
    if delete and isinstance(node, dict):
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return out


def _check(storage, route: str, headers: dict[str, str], body: bytes, before: int) -> None:
    status, data = dispatch(route, headers, body)
    assert 200 <= status < 500, (status, data)
    answer = json.loads(data)
    after = queued(storage)
    if status >= 400:
        assert set(answer) >= {"error", "message"}
        assert after == before, "a refused delivery queued work"
    elif answer.get("status") != "queued":
        assert after == before


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(GITHUB_PATHS), value=json_values, delete=st.booleans(), resign=st.booleans(),
       event=st.sampled_from(["push", "push", "ping", "issues", ""]))
def test_github_mutations(storage, clock, path, value, delete, resign, event):
    payload = _mutate(github_push(), path, value, delete)
    headers, body = github(payload, event=event)
    if not resign:
        body = body + b" "  # the signature no longer matches
    with serving(storage, clock):
        _check(storage, "github", headers, body, queued(storage))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(ADO_PATHS), value=json_values, delete=st.booleans(),
       auth=st.sampled_from(["ok", "wrong", "garbage", "missing"]))
def test_azure_devops_mutations(storage, clock, path, value, delete, auth):
    headers, body = azure_devops(_mutate(azure_devops_push(), path, value, delete),
                                 password="s3cret-pass" if auth == "ok" else "nope")
    if auth == "garbage":
        headers["Authorization"] = "Basic ###"
    elif auth == "missing":
        headers.pop("Authorization")
    with serving(storage, clock, "azure-devops", ADO):
        _check(storage, "azure-devops", headers, body, queued(storage))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(GITLAB_PATHS), value=json_values, delete=st.booleans(),
       header=st.sampled_from(["X-Gitlab-Token", "X-Gitlab-Event", "X-Gitlab-Event-UUID", None]),
       header_value=st.text(max_size=20))
def test_gitlab_mutations(storage, clock, path, value, delete, header, header_value):
    headers, body = gitlab(_mutate(gitlab_push(), path, value, delete))
    if header:
        headers[header] = header_value
    with serving(storage, clock, "gitlab", GL):
        _check(storage, "gitlab", headers, body, queued(storage))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=300), route=st.sampled_from(["github", "azure-devops", "gitlab"]))
def test_arbitrary_bytes_signed_correctly(storage, clock, raw, route):
    headers = {"github": github, "azure-devops": azure_devops, "gitlab": gitlab}[route](raw)[0]
    with serving(storage, clock):
        _check(storage, route, headers, raw, 0)
    assert queued(storage) == 0
