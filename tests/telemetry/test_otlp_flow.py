"""Traces and metrics leave the app: a real OTLP/HTTP receiver, the dev host, dev -> test -> prod.

The dev host runs as its own process with ``OTEL_EXPORTER_OTLP_ENDPOINT`` pointed at a receiver
on a free port that decodes the protobuf requests (opentelemetry-proto). A signed GitHub push
carrying a ``traceparent`` is deployed to dev, promoted to test and prod; everything it caused must
be one trace, with the CICD span names, kinds and attributes, HTTP client spans for the storage
and Databricks calls, the metrics, the app's log records in that trace, and no secret anywhere in
what was sent.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from .helpers import NOTEBOOKS, descends, dev_host
from .receiver import OtlpReceiver

ENVS = ("dev", "test", "prod")


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    r = OtlpReceiver()
    yield r
    r.stop()


def test_webhook_to_prod_is_one_exported_trace_with_metrics(tmp_path, azurite, unique_prefix, databricks_standin,
                                                           receiver):
    with dev_host(tmp_path, azurite, unique_prefix, databricks_standin, ENVS,
                  {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_SERVICE_NAME": "dataops-test"},
                  approval=("prod",)) as stack:
        sha = stack.repo.commit(NOTEBOOKS)
        caller_trace = secrets.token_hex(16)
        status, answer = stack.push(sha, caller_trace)
        assert status == 202 and answer["status"] == "queued", answer
        # The host continued the caller's trace; the app's spans are in it, and the answer says so.
        assert answer["trace_id"] == caller_trace
        waiting = stack.settled(sha, ("prod",), status="waiting_approval")
        (prod,) = [d for d in waiting if d["environment"] == "prod"]
        # A person approves from a trace of their own; the prod run still belongs to the push's trace.
        approver_trace = secrets.token_hex(16)
        status, approved = stack.approve(prod["id"], approver_trace)
        assert status == 200 and approved["status"] == "queued", approved
        deployments = stack.settled(sha, ENVS)
        assert {d["trace_id"] for d in deployments} == {caller_trace}
        runs = {d["environment"]: d["id"] for d in deployments}

        def exported() -> bool:
            names = {(s["name"], s["attributes"].get("deployment.environment.name"))
                     for s in receiver.spans_of(caller_trace)
                     if s["attributes"].get("cicd.pipeline.result") == "success"}
            logged = {r["body"] for r in receiver.logs}
            return all(("SYNC dataops-notebooks", e) in names and f"deployment {runs[e]} ({e}/notebooks): succeeded"
                       in logged and receiver.metric(
                "cicd.pipeline.run.duration", **{"deployment.environment.name": e, "cicd.pipeline.result": "success"})
                for e in ENVS)

        receiver.wait(exported, timeout=60)
        secret = stack.secret

    spans = receiver.spans_of(caller_trace)
    by_id = {s["span_id"]: s for s in spans}
    # Every span the app sent for this push is in the caller's trace (nothing orphaned elsewhere).
    others = [s for s in receiver.spans if s["trace_id"] != caller_trace and s["scope"] == "dataops.deployer"
              and s["name"].startswith(("SYNC", "dataops."))]
    assert others == []
    http = next(s for s in spans if s["name"] == "POST /api/hooks/github")
    # Its parent is the host's invocation (a new span id in the caller's trace), not a span of ours.
    assert http["kind"] == "SPAN_KIND_SERVER" and http["parent_id"] not in (None, "1" * 16, *by_id)
    assert http["attributes"]["http.response.status_code"] == 202
    hook = next(s for s in spans if s["name"] == "dataops.webhook github")
    assert hook["parent_id"] == http["span_id"]
    # The hot path's storage calls (claims, records, queue message) make no span of their own, neither
    # azure-core's nor the requests instrumentation's: they are summed on the intake span.
    # (Its SERVER children are the pipeline runs it queued.)
    hot = [s for s in spans if s["parent_id"] == hook["span_id"] and s["kind"] != "SPAN_KIND_SERVER"]
    assert hot == [], [(s["name"], s["kind"], s["scope"]) for s in hot]
    assert hook["attributes"]["dataops.storage.requests"] >= 3
    assert 0 < hook["attributes"]["dataops.storage.duration"] < (hook["end"] - hook["start"]) / 1e9
    assert hook["attributes"]["vcs.ref.head.name"] == "main"
    assert hook["attributes"]["vcs.ref.head.type"] == "branch"
    assert hook["attributes"]["vcs.provider.name"] == "github"
    assert hook["attributes"]["vcs.repository.name"] == "data-platform"

    pipeline = {s["attributes"]["deployment.environment.name"]: s for s in sorted(spans, key=lambda s: s["start"])
                if s["name"] == "SYNC dataops-notebooks"}  # prod: its last run
    assert set(pipeline) == set(ENVS)
    for env_name, s in pipeline.items():
        a = s["attributes"]
        assert s["kind"] == "SPAN_KIND_SERVER"
        assert a["cicd.pipeline.name"] == "dataops-notebooks" and a["cicd.pipeline.action.name"] == "SYNC"
        assert a["cicd.pipeline.result"] == "success" and a["cicd.pipeline.run.id"] == runs[env_name]
        assert a["vcs.ref.head.name"] == "main" and a["vcs.ref.head.type"] == "branch"
        assert a["vcs.ref.head.revision"] == sha and a["vcs.repository.name"]
        assert a["vcs.provider.name"] == "local"
        # The worker's invocation (its own trace, as the host starts for a queue message) is linked.
        assert [lk[1].get("dataops.link") for lk in s["links"]] == ["functions.invocation"]
    # Promotions: test's run descends from dev's (through the after-end hook). Prod ran twice: up to
    # the approval gate (under test's run) and, once approved, from the approval (linked to the approver).
    assert descends(by_id, pipeline["test"], pipeline["dev"])
    prod_runs = sorted((s for s in spans if s["name"] == "SYNC dataops-notebooks"
                        and s["attributes"]["deployment.environment.name"] == "prod"), key=lambda s: s["start"])
    assert [s["attributes"]["cicd.pipeline.result"] for s in prod_runs] == ["skip", "success"]
    assert prod_runs[0]["attributes"]["dataops.deployment.status"] == "waiting_approval"
    assert descends(by_id, prod_runs[0], pipeline["test"])
    release = next(s for s in spans if s["name"] == "dataops.approval prod")
    assert [lk[0] for lk in release["links"]] == [approver_trace] and descends(by_id, prod_runs[1], release)

    tasks = [s for s in spans if s["attributes"].get("cicd.pipeline.task.name")]
    assert {s["attributes"]["cicd.pipeline.task.name"] for s in tasks} >= {"load_commit", "plan", "apply"}
    for t in tasks:
        assert t["kind"] == "SPAN_KIND_INTERNAL"
        if t["attributes"]["cicd.pipeline.task.name"] != "load_commit":
            assert t["attributes"]["cicd.pipeline.task.run.id"].split("/")[0] in runs.values()
            assert t["attributes"]["cicd.pipeline.task.run.result"] == "success"

    # HTTP client spans: storage (azure-core) and Databricks (requests), under the pipeline runs.
    clients = [s for s in spans if s["kind"] == "SPAN_KIND_CLIENT"]
    dbx_port = databricks_standin.url.rsplit(":", 1)[1]
    dbx = [s for s in clients if dbx_port in str(s["attributes"].get("url.full") or s["attributes"].get("http.url"))]
    storage = [s for s in clients if s["scope"].startswith("azure")]
    assert dbx and storage, {s["name"] for s in clients}
    prod_dbx = [s for s in dbx if descends(by_id, s, pipeline["prod"])]
    assert prod_dbx, "no Databricks call under the prod run"

    # Log records: the app's, exported with the trace and span ids of the run that logged them.
    for env_name, s in pipeline.items():
        (record,) = [r for r in receiver.logs if r["body"] == f"deployment {runs[env_name]} ({env_name}/notebooks): "
                     "succeeded"]
        assert (record["trace_id"], record["span_id"]) == (caller_trace, s["span_id"])
        assert record["severity"] == "INFO" and record["scope"] == "shared.deploy.orchestrator"
    assert not [r for r in receiver.logs if r["scope"].startswith(("azure", "urllib3", "opentelemetry"))]

    # Metrics, per environment, component and result.
    for env_name in ENVS:
        runs_done = receiver.metric("cicd.pipeline.run.duration", **{
            "deployment.environment.name": env_name, "dataops.component": "notebooks",
            "cicd.pipeline.run.state": "executing", "cicd.pipeline.result": "success"})
        assert runs_done and runs_done[-1]["kind"] == "histogram" and runs_done[-1]["unit"] == "s"
        assert receiver.metric("cicd.pipeline.run.duration", **{"deployment.environment.name": env_name,
                                                                 "cicd.pipeline.run.state": "pending"})
        assert receiver.metric("dataops.deployment.queue.wait", **{"deployment.environment.name": env_name})
        imports = receiver.metric("dataops.notebooks.imports", **{"deployment.environment.name": env_name,
                                                                   "result": "success"})
        assert imports and imports[-1]["value"] == 2
    assert receiver.metric("cicd.pipeline.run.active", **{"cicd.pipeline.run.state": "executing"})
    assert receiver.metric("http.server.request.duration", **{"http.route": "/api/hooks/github",
                                                               "http.response.status_code": 202})
    resource = pipeline["dev"]["resource"]
    assert resource["service.name"] == "dataops-test"

    # Nothing secret in anything that left the process.
    sent = b"".join(receiver.raw)
    for value in (secret, databricks_standin.token, azurite.connection_string.split("AccountKey=")[1].split(";")[0]):
        assert value.encode() not in sent
