"""Spans carry the semantic conventions; the trace context crosses a queue message."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared import telemetry


def test_queue_message_carries_the_trace(spans: InMemorySpanExporter) -> None:
    with telemetry.span("webhook github") as hook:
        carrier = telemetry.inject_context()
    assert carrier["traceparent"].startswith("00-")
    with telemetry.attached_context(carrier), telemetry.span("deployment") as dep:
        assert dep.get_span_context().trace_id == hook.get_span_context().trace_id
    finished = {s.name: s for s in spans.get_finished_spans()}
    assert finished["deployment"].parent is not None
    assert finished["deployment"].parent.span_id == finished["webhook github"].context.span_id


def test_deployment_attributes_follow_semantic_conventions(spans: InMemorySpanExporter) -> None:
    attrs = telemetry.deployment_attributes(environment="dev", component="adf", deployment_id="d1",
                                            commit="abc", repository="https://user:ghp_secret@github.com/c/r")
    with telemetry.span("deploy", attrs) as s:
        telemetry.set_result(s, "succeeded")
    got = dict(spans.get_finished_spans()[0].attributes or {})
    assert got["deployment.environment.name"] == "dev"
    assert got["cicd.pipeline.name"] == "dataops-adf"
    assert got["cicd.pipeline.run.id"] == "d1"
    assert got["vcs.ref.head.revision"] == "abc"
    assert got["cicd.pipeline.result"] == "success"
    assert "ghp_secret" not in got["vcs.repository.url.full"]


def test_failed_span_records_error_type_not_message(spans: InMemorySpanExporter) -> None:
    with pytest.raises(ValueError), telemetry.span("step"):
        raise ValueError("token=supersecret")
    s = spans.get_finished_spans()[0]
    assert s.status.status_code == trace.StatusCode.ERROR
    assert "supersecret" not in str(s.status.description) + str(dict(s.attributes or {})) + str(s.events)


def test_redact_removes_secrets_and_url_credentials() -> None:
    assert telemetry.redact("pat dapi1234 at https://x:y@h/p", ["dapi1234"]) == "pat *** at https://h/p"


def test_no_exporter_without_settings() -> None:
    from shared.settings import Settings

    telemetry._configured = None
    assert telemetry.setup_telemetry(Settings({})) == "none"
    telemetry._configured = None
