"""The queue worker through the dev host: webhook -> queue -> deployment, one trace; poison -> failed."""

from __future__ import annotations

import json

import pytest

from shared import app as app_context
from shared.config import parse_config
from shared.deploy.queue import DeploymentQueue
from tests.ingest.helpers import context, github, github_push, host

from .helpers import LocalRepo, make_config


@pytest.fixture
def env(storage, azurite, monkeypatch):
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    for name, value in storage.names.app_settings().items():
        monkeypatch.setenv(name, value)
    yield
    app_context.set_current(None)


def test_push_to_deployment_through_the_host_is_one_trace(env, storage, clock, repo: LocalRepo, deployers,
                                                         spans):
    sha = repo.commit({"notebooks/a.py": "# Databricks notebook source\n"})
    ctx = context(storage, make_config(str(repo.path)), clock, components=deployers.components)
    app_context.set_current(ctx)
    h = host()
    payload = github_push(repo="contoso/data-platform", after=sha)
    status, _, data = h.dispatch("POST", "http://x/api/hooks/github", *github(payload))
    assert status == 202
    (did,) = json.loads(data)["deployments"]
    worker = h.listener("deployment_worker")
    assert worker.queue == storage.names.deploy_queue
    assert worker.process_once() == 1
    rec = ctx.ledger.get_deployment(did)
    assert rec.status == "succeeded" and deployers["notebooks"].applied == [sha]
    by_name = {s.name: s for s in spans.get_finished_spans()}
    hook_span, deploy_span = by_name["dataops.webhook github"], by_name["SYNC dataops-notebooks"]
    http_span = by_name["POST /api/hooks/github"]
    assert deploy_span.context.trace_id == hook_span.context.trace_id == http_span.context.trace_id
    assert hook_span.parent.span_id == http_span.context.span_id
    assert rec.trace_id == f"{hook_span.context.trace_id:032x}" == json.loads(data)["trace_id"]
    # The worker's own invocation (a new trace, as the host starts for a Storage queue) is linked.
    assert [lk.attributes["dataops.link"] for lk in deploy_span.links] == ["functions.invocation"]


def test_poisoned_request_is_recorded_failed(env, storage, clock, deployers):
    # A GitHub repository whose API is unreachable: every attempt is a transient failure.
    cfg = parse_config({"repository": {"provider": "github", "url": "https://github.com/contoso/data-platform",
                                       "api_url": "http://127.0.0.1:9"},
                        "environments": make_config("x").model_dump(exclude_none=True)["environments"]})
    ctx = context(storage, cfg, clock, components=deployers.components)
    app_context.set_current(ctx)
    h = host()  # maxDequeueCount 2
    status, _, data = h.dispatch("POST", "http://x/api/hooks/github", *github(github_push()))
    assert status == 202
    (did,) = json.loads(data)["deployments"]
    worker = h.listener("deployment_worker")
    attempts = 0
    for _ in range(5):  # each failed attempt makes the message visible again at once (visibilityTimeout 0)
        n = worker.process_once()
        if n == 0:
            break
        attempts += n
    assert attempts == 2  # maxDequeueCount
    assert ctx.ledger.get_deployment(did).status == "queued"  # a transient failure: back to queued
    assert len(DeploymentQueue(storage).peek()) == 0
    poison = h.listener("deployment_poison")
    assert poison.queue == storage.names.poison_queue
    assert poison.process_once() == 1
    rec = ctx.ledger.get_deployment(did)
    assert rec.status == "failed" and "poison" in (rec.error or "")
