"""The Azure Monitor exporter pointed at a local ingestion endpoint, next to OTLP (both when both are set).

The connection string's ``IngestionEndpoint`` is a receiver on a free port that accepts the
``/v2.1/track`` envelopes the exporter sends. Requests (SERVER spans), dependencies (client
and internal spans, storage and Databricks calls), the app's own spans, its log records (traces
table) and its metrics must arrive there, and the same trace over OTLP.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator

import pytest

from .helpers import NOTEBOOKS, dev_host
from .receiver import AppInsightsReceiver, OtlpReceiver


@pytest.fixture
def receivers() -> Iterator[tuple[AppInsightsReceiver, OtlpReceiver]]:
    ai, otlp = AppInsightsReceiver(), OtlpReceiver()
    yield ai, otlp
    ai.stop()
    otlp.stop()


def test_requests_dependencies_and_spans_reach_azure_monitor_and_otlp(tmp_path, azurite, unique_prefix,
                                                                     databricks_standin, receivers):
    ai, otlp = receivers
    ikey = str(uuid.uuid4())
    conn = f"InstrumentationKey={ikey};IngestionEndpoint={ai.url}/;LiveEndpoint={ai.url}/"
    with dev_host(tmp_path, azurite, unique_prefix, databricks_standin, ("dev",), {
            "APPLICATIONINSIGHTS_CONNECTION_STRING": conn, "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.url,
            "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true"}) as stack:
        sha = stack.repo.commit(NOTEBOOKS)
        trace_id = secrets.token_hex(16)
        status, answer = stack.push(sha, trace_id)
        assert status == 202 and answer["trace_id"] == trace_id
        (deployment,) = stack.settled(sha, ("dev",))

        def arrived() -> bool:
            names = {e["data"]["baseData"].get("name") for e in ai.of_type("RequestData")}
            logged = {e["data"]["baseData"].get("message") for e in ai.of_type("MessageData")}
            return "SYNC dataops-notebooks" in names and bool(ai.of_type("MetricData")) and any(
                m.startswith(f"deployment {deployment['id']} ") for m in logged if m) and any(
                s["name"] == "SYNC dataops-notebooks" for s in otlp.spans_of(trace_id))

        ai.wait(arrived, timeout=60)

    requests = {e["data"]["baseData"]["name"]: e for e in ai.of_type("RequestData")
                if e["tags"].get("ai.operation.id") == trace_id}
    assert set(requests) == {"POST /api/hooks/github", "SYNC dataops-notebooks"}
    assert {e["iKey"] for e in requests.values()} == {ikey}
    assert requests["POST /api/hooks/github"]["data"]["baseData"]["responseCode"] == "202"
    run = requests["SYNC dataops-notebooks"]["data"]["baseData"]
    assert run["success"] is True
    assert run["properties"]["cicd.pipeline.run.id"] == deployment["id"]
    assert run["properties"]["cicd.pipeline.result"] == "success"
    assert run["properties"]["deployment.environment.name"] == "dev"

    deps = [e for e in ai.of_type("RemoteDependencyData") if e["tags"].get("ai.operation.id") == trace_id]
    names = {e["data"]["baseData"]["name"] for e in deps}
    assert {"dataops.webhook github", "dataops.task plan", "dataops.task apply"} <= names
    http_deps = [e["data"]["baseData"] for e in deps if e["data"]["baseData"].get("type") == "HTTP"]
    dbx_port = databricks_standin.url.rsplit(":", 1)[1]
    assert any(dbx_port in (d.get("target") or "") + (d.get("data") or "") for d in http_deps), http_deps[:3]
    azurite_ports = {str(azurite.table_port), str(azurite.queue_port), str(azurite.blob_port)}
    assert any(any(p in (d.get("target") or "") for p in azurite_ports) for d in http_deps)

    # The app's log records land in the traces table (MessageData), in the deployment's operation.
    messages = [e for e in ai.of_type("MessageData")
                if e["data"]["baseData"]["message"] == f"deployment {deployment['id']} (dev/notebooks): succeeded"]
    assert [e["tags"].get("ai.operation.id") for e in messages] == [trace_id], ai.of_type("MessageData")[:3]

    metrics = {m["name"] for e in ai.of_type("MetricData") for m in e["data"]["baseData"]["metrics"]}
    assert {"cicd.pipeline.run.duration", "http.server.request.duration"} <= metrics

    sent = b"".join(ai.raw) + b"".join(otlp.raw)
    account_key = azurite.connection_string.split("AccountKey=")[1].split(";")[0]
    for value in (stack.secret, databricks_standin.token, account_key):
        assert value.encode() not in sent
