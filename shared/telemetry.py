"""OpenTelemetry set-up and span helpers (SPEC section 8).

One setup function picks the exporter from the settings: Azure Monitor when
``APPLICATIONINSIGHTS_CONNECTION_STRING`` is set, OTLP/HTTP when
``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, nothing otherwise. The exporter
packages are imported only when chosen. The W3C trace context travels inside
queue messages, so a webhook and the deployment it causes are one trace.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, Status, StatusCode

from .settings import Settings

TRACER_NAME = "dataops.deployer"
_setup_lock = threading.Lock()
_configured: str | None = None

# Semantic convention attribute names (cicd.*, vcs.*, deployment.*).
PIPELINE_NAME = "cicd.pipeline.name"
PIPELINE_RUN_ID = "cicd.pipeline.run.id"
PIPELINE_RESULT = "cicd.pipeline.result"
TASK_NAME = "cicd.pipeline.task.name"
TASK_RUN_ID = "cicd.pipeline.task.run.id"
TASK_RESULT = "cicd.pipeline.task.run.result"
VCS_REVISION = "vcs.ref.head.revision"
VCS_REF = "vcs.ref.head.name"
VCS_URL = "vcs.repository.url.full"
ENVIRONMENT = "deployment.environment.name"

_RESULTS = {"succeeded": "success", "failed": "failure", "superseded": "skip", "rejected": "cancellation",
            "rolled_back": "failure"}


def setup_telemetry(settings: Settings | None = None) -> str:
    """Install the tracer/meter providers once; returns the exporter chosen: azure-monitor, otlp or none."""
    global _configured
    settings = settings or Settings.from_env()
    with _setup_lock:
        if _configured is not None:
            return _configured
        service = settings.get("OTEL_SERVICE_NAME", "dataops-deployer") or "dataops-deployer"
        if settings.get("APPLICATIONINSIGHTS_CONNECTION_STRING"):
            from azure.monitor.opentelemetry import configure_azure_monitor

            configure_azure_monitor(
                connection_string=settings.get("APPLICATIONINSIGHTS_CONNECTION_STRING"),
                resource=_resource(service))
            _configured = "azure-monitor"
        elif settings.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            provider = TracerProvider(resource=_resource(service))
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
            trace.set_tracer_provider(provider)
            _configured = "otlp"
        else:
            _configured = "none"
        return _configured


def _resource(service: str) -> Any:
    from opentelemetry.sdk.resources import Resource

    return Resource.create({"service.name": service})


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


def inject_context() -> dict[str, str]:
    """The current trace context as a W3C ``traceparent``/``tracestate`` carrier for a queue message."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


@contextlib.contextmanager
def attached_context(carrier: Mapping[str, str] | None) -> Iterator[None]:
    """Continue the trace carried by a queue message."""
    if not carrier:
        yield
        return
    token = otel_context.attach(propagate.extract(dict(carrier)))
    try:
        yield
    finally:
        otel_context.detach(token)


def current_trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return f"{ctx.trace_id:032x}" if ctx.is_valid else None


def deployment_attributes(*, environment: str | None = None, component: str | None = None,
                          deployment_id: str | None = None, commit: str | None = None,
                          ref: str | None = None, repository: str | None = None) -> dict[str, str]:
    attrs: dict[str, str] = {}
    if component:
        attrs[PIPELINE_NAME] = f"dataops-{component}"
    if deployment_id:
        attrs[PIPELINE_RUN_ID] = deployment_id
    if environment:
        attrs[ENVIRONMENT] = environment
    if commit:
        attrs[VCS_REVISION] = commit
    if ref:
        attrs[VCS_REF] = ref
    if repository:
        attrs[VCS_URL] = scrub_url(repository)
    return attrs


@contextlib.contextmanager
def span(name: str, attributes: Mapping[str, Any] | None = None,
         kind: trace.SpanKind = trace.SpanKind.INTERNAL) -> Iterator[Span]:
    """A span that records exceptions and an error status (never their secret-bearing arguments)."""
    with tracer().start_as_current_span(name, kind=kind, record_exception=False,
                                        set_status_on_exception=False) as s:
        if attributes:
            s.set_attributes({k: v for k, v in attributes.items() if v is not None})
        try:
            yield s
        except Exception as exc:
            s.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            s.set_attribute("error.type", type(exc).__name__)
            raise


@contextlib.contextmanager
def task_span(task: str, **attributes: Any) -> Iterator[Span]:
    """One step of a deployment (``cicd.pipeline.task.*``)."""
    with span(f"dataops.task {task}", {TASK_NAME: task, **attributes}) as s:
        yield s


def set_result(s: Span, status: str) -> None:
    s.set_attribute(PIPELINE_RESULT, _RESULTS.get(status, status))
    if status == "failed":
        s.set_status(Status(StatusCode.ERROR, "deployment failed"))


_CRED_IN_URL = re.compile(r"(?<=://)[^/@\s]+@")


def scrub_url(url: str) -> str:
    """Drop ``user:token@`` from a URL before it reaches a trace, a log or the audit."""
    return _CRED_IN_URL.sub("", url)


def redact(text: str, secrets: list[str | None]) -> str:
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "***")
    return scrub_url(text)
