"""OpenTelemetry set-up, span helpers and the app's metrics (SPEC section 8, docs/telemetry.md).

Configured once per process on first use (the first span, metric or
invocation), never at import, so a cold start pays nothing:

* ``APPLICATIONINSIGHTS_CONNECTION_STRING`` -> Azure Monitor exporters;
* ``OTEL_EXPORTER_OTLP_ENDPOINT`` -> OTLP/HTTP exporters (both if both);
* ``DATAOPS_TRACE_FILE`` -> spans as JSON lines in that file (``make run``);
* nothing set -> nothing is installed (spans still carry a host-given context).

When the Functions worker configured Azure Monitor itself
(``PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY``), its provider is reused and no
second Azure Monitor exporter is added. Every span exporter sits behind
:class:`ScrubbingSpanExporter`. The W3C trace context travels inside queue
messages, so a webhook and every deployment it causes are one trace.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics as otel_metrics
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from .settings import Settings

TRACER_NAME = "dataops.deployer"
_setup_lock = threading.Lock()
_configured: str | None = None
_ready = False  # fast path once configured

# Semantic convention attribute names (cicd.*, vcs.*, deployment.*), as currently published.
PIPELINE_NAME = "cicd.pipeline.name"
PIPELINE_ACTION = "cicd.pipeline.action.name"
PIPELINE_RUN_ID = "cicd.pipeline.run.id"
PIPELINE_RUN_STATE = "cicd.pipeline.run.state"
PIPELINE_RESULT = "cicd.pipeline.result"
TASK_NAME = "cicd.pipeline.task.name"
TASK_RUN_ID = "cicd.pipeline.task.run.id"
TASK_RESULT = "cicd.pipeline.task.run.result"
VCS_REVISION = "vcs.ref.head.revision"
VCS_REF = "vcs.ref.head.name"
VCS_REF_TYPE = "vcs.ref.head.type"
VCS_PROVIDER = "vcs.provider.name"
VCS_REPOSITORY = "vcs.repository.name"
VCS_URL = "vcs.repository.url.full"
ENVIRONMENT = "deployment.environment.name"
COMPONENT = "dataops.component"
ERROR_TYPE = "error.type"
# The webhook's storage calls, summed on its intake span (they make no span of their own).
STORAGE_REQUESTS = "dataops.storage.requests"
STORAGE_SECONDS = "dataops.storage.duration"
SYNC, RUN = "SYNC", "RUN"  # cicd.pipeline.action.name: a deployment syncs a target with Git; a toggle runs

# Deployment status -> cicd.pipeline.result (enum: success, failure, error, timeout, cancellation, skip).
RESULTS = {
    "succeeded": "success",
    "failed": "failure",
    "rolled_back": "failure",      # it failed and the previous state was restored
    "superseded": "skip",          # precondition not met: a newer commit is already deployed
    "rejected": "cancellation",    # a person cancelled it
    "waiting_approval": "skip",    # this run stopped at a gate; the next run of the deployment continues
    "waiting_window": "skip",
    "waiting_lock": "skip",
    "missing": "error",            # a request for a record that does not exist
    "partial": "failure",          # a stop/start where some resources failed
    "planned": "skip",             # a dry run changes nothing
}
# The worker died mid-way or the request was poisoned: an error of the system, not of the change.
SYSTEM_ERRORS = ("stopped mid-way", "poison queue")


def result_of(status: str, error: str | None = None) -> str:
    if status == "failed" and error:
        if any(s in error for s in SYSTEM_ERRORS):
            return "error"
        if "timeout" in error.lower() or "timed out" in error.lower():
            return "timeout"
    return RESULTS.get(status, "error")


# ----------------------------------------------------------------- configuration
def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


def host_configured_azure_monitor(env: Mapping[str, str]) -> bool:
    """The Python worker calls ``configure_azure_monitor()`` itself when this is on."""
    return _truthy(env.get("PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY"))


def setup_telemetry(settings: Settings | None = None) -> str:
    """Install exporters once; returns what was chosen, e.g. ``azure-monitor+otlp``, ``file`` or ``none``."""
    global _configured, _ready
    if _ready and _configured is not None:
        return _configured
    with _setup_lock:
        if _configured is not None:
            _ready = True
            return _configured
        settings = settings or Settings.from_env()
        env: dict[str, str] = {k: v for k, v in ((k, settings.get(k)) for k in _ENV_KEYS) if v}
        chosen: list[str] = []
        if env.get("APPLICATIONINSIGHTS_CONNECTION_STRING") and not host_configured_azure_monitor(env):
            chosen.append("azure-monitor")
        if env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
            chosen.append("otlp")
        if env.get("DATAOPS_TRACE_FILE"):
            chosen.append("file")
        if chosen or host_configured_azure_monitor(env):
            _install(chosen, env, settings)
        _configured = "+".join(chosen) or ("host" if host_configured_azure_monitor(env) else "none")
        _ready = True
        return _configured


_ENV_KEYS = ("APPLICATIONINSIGHTS_CONNECTION_STRING", "OTEL_EXPORTER_OTLP_ENDPOINT", "DATAOPS_TRACE_FILE",
             "OTEL_SERVICE_NAME", "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY")


def ensure_configured() -> None:
    if not _ready:
        setup_telemetry()


def _install(chosen: list[str], env: dict[str, str], settings: Settings) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = _resource(env.get("OTEL_SERVICE_NAME") or "dataops-deployer")
    scrubber = Scrubber.from_settings(settings)
    span_exporters: list[Any] = []
    metric_exporters: list[MetricExporter] = []
    log_exporters: list[Any] = []
    if "azure-monitor" in chosen:
        from azure.monitor.opentelemetry.exporter import (
            AzureMonitorLogExporter,
            AzureMonitorMetricExporter,
            AzureMonitorTraceExporter,
        )

        conn = env["APPLICATIONINSIGHTS_CONNECTION_STRING"]
        span_exporters.append(AzureMonitorTraceExporter(connection_string=conn, disable_offline_storage=True))
        metric_exporters.append(AzureMonitorMetricExporter(connection_string=conn, disable_offline_storage=True))
        log_exporters.append(AzureMonitorLogExporter(connection_string=conn, disable_offline_storage=True))
    if "otlp" in chosen:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        # The base endpoint + /v1/traces, /v1/metrics, /v1/logs (the signal-specific OTEL_* variables
        # still win); OTEL_EXPORTER_OTLP_HEADERS and the other standard variables are read by the exporters.
        base = env["OTEL_EXPORTER_OTLP_ENDPOINT"].rstrip("/")
        span_exporters.append(OTLPSpanExporter(
            endpoint=None if os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") else f"{base}/v1/traces"))
        metric_exporters.append(OTLPMetricExporter(
            endpoint=None if os.environ.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") else f"{base}/v1/metrics"))
        log_exporters.append(OTLPLogExporter(
            endpoint=None if os.environ.get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT") else f"{base}/v1/logs"))
    if "file" in chosen:
        span_exporters.append(FileSpanExporter(env["DATAOPS_TRACE_FILE"]))

    processors: list[SpanProcessor] = [BatchSpanProcessor(ScrubbingSpanExporter(e, scrubber))  # type: ignore[arg-type]
                                       for e in span_exporters]
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        provider = current  # the worker's (or a test's) provider: add to it, never replace it
    else:
        provider = TracerProvider(resource=resource)
        trace.set_tracer_provider(provider)
    for p in processors:
        provider.add_span_processor(p)
    if metric_exporters:
        from .telemetry_export import ScrubbingMetricExporter

        readers = [PeriodicExportingMetricReader(ScrubbingMetricExporter(e, scrubber)) for e in metric_exporters]
        otel_metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))
    if log_exporters:
        _export_logs(log_exporters, resource, scrubber)
    _instrument_http_clients()


# The app's own loggers (``dataops.*`` and the modules' ``__name__`` loggers); never the SDKs'
# (``azure.*``, ``urllib3``, ``opentelemetry.*``: HTTP wire noise, and an exporter logging about itself).
APP_LOGGERS = ("dataops", "shared", "functions")


def _export_logs(exporters: list[Any], resource: Any, scrubber: Scrubber) -> None:
    """The app's log records through the same exporters, scrubbed, with the current trace and span ids."""
    import logging

    from opentelemetry._logs import set_logger_provider
    from opentelemetry.instrumentation.logging.handler import LoggingHandler
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    from .telemetry_export import ScrubbingLogExporter

    provider = LoggerProvider(resource=resource)
    for e in exporters:
        provider.add_log_record_processor(BatchLogRecordProcessor(ScrubbingLogExporter(e, scrubber)))
    set_logger_provider(provider)
    handler = LoggingHandler(logger_provider=provider)
    for name in APP_LOGGERS:
        logging.getLogger(name).addHandler(handler)


def _instrument_http_clients() -> None:
    """HTTP client spans: azure-core's OpenTelemetry tracing (storage, ARM) and requests (Databricks, git)."""
    # azure-core's native OpenTelemetry tracing (azure-core >= 1.31): one cached tracer, no plugin
    # wrapper object per span; a plugin the worker's Azure Monitor set-up installed still wins.
    from azure.core.settings import settings as azure_settings

    azure_settings.tracing_enabled = True
    try:
        from opentelemetry.instrumentation.requests import RequestsInstrumentor

        instrumentor = RequestsInstrumentor()
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument()
    except ImportError:  # pragma: no cover
        pass


def _resource(service: str) -> Any:
    from opentelemetry.sdk.resources import Resource

    attrs = {"service.name": service, "service.namespace": "dataops"}
    site = os.environ.get("WEBSITE_SITE_NAME")
    if site:
        attrs["cloud.provider"], attrs["cloud.platform"], attrs["service.instance.id"] = \
            "azure", "azure.functions", os.environ.get("WEBSITE_INSTANCE_ID", site)
    return Resource.create(attrs)


def shutdown(timeout_millis: int = 10_000) -> None:
    """Flush and stop the providers (the CLI and benchmarks before they exit)."""
    from opentelemetry import _logs

    for provider in (trace.get_tracer_provider(), otel_metrics.get_meter_provider(), _logs.get_logger_provider()):
        flush = getattr(provider, "force_flush", None)
        if flush is not None:
            try:
                flush(timeout_millis)
            except Exception:  # flushing is best effort
                pass


# ----------------------------------------------------------------- scrubbing
_CRED_IN_URL = re.compile(r"(?<=://)[^/@\s]+@")
_SECRET_QUERY = re.compile(
    r"(?i)([?&](?:sig|signature|code|token|access_token|api[-_]?key|key|secret|"
    r"password|client_secret|private_token)=)[^&#\s]*")
# (pattern, replacement): credentials that may sit in any text.
_PATTERNS = [
    (re.compile(r"(?i)\b(AccountKey|SharedAccessKey|SharedAccessSignature|InstrumentationKey|Password|Pwd)="
                r"[^;\s\"']+"), r"\1=***"),
    (re.compile(r"(?i)\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 ***"),
    (re.compile(r"\bdapi[0-9a-f]{16,}\b"), "***"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"), "***"),  # JWT
    (re.compile(r"\b(sha1|sha256)=[0-9a-f]{40,64}\b"), r"\1=***"),  # webhook signatures
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}\b|\bglpat-[A-Za-z0-9_-]{16,}\b"), "***"),
]
# Anything one of the substitutions above could change (a cheap first scan).
_SUSPECT = re.compile(r"(?i)://[^/@\s]+@|[?&](?:sig|signature|code|token|access_token|api[-_]?key|key|secret|"
                      r"password|client_secret|private_token)=|\b(?:AccountKey|SharedAccessKey|"
                      r"SharedAccessSignature|InstrumentationKey|Password|Pwd)=|\b(?:Bearer|Basic)\s|dapi[0-9a-f]|"
                      r"eyJ|\bsha(?:1|256)=|\bgh[pousr]_|glpat-")
_SECRET_NAME = re.compile(r"(?i)(secret|token|password|key|connection_?string|^AzureWebJobsStorage$)")


class Scrubber:
    """Replaces secret values (known setting values, credential patterns, URL credentials) by ``***``."""

    def __init__(self, secrets: Sequence[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)
        self._cache: dict[str, str] = {}

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Scrubber:
        values = dict(os.environ)
        if settings is not None:
            values.update({k: v for k, v in settings.environ.items() if isinstance(v, str)})
        secrets = [v for k, v in values.items() if _SECRET_NAME.search(k) and "__" not in k
                   and not k.startswith(("OTEL_", "PYTHON_"))]
        for v in list(secrets):  # and the parts of connection strings
            secrets += [p.split("=", 1)[1] for p in v.split(";") if "=" in p and
                        p.split("=", 1)[0].lower() in ("accountkey", "sharedaccesssignature", "password")]
        return cls(secrets)

    def text(self, value: str) -> str:
        """``value`` without secrets; results are cached (attribute values repeat call after call)."""
        got = self._cache.get(value)
        if got is None:
            got = self._text(value)
            if len(value) <= 512:  # attribute values, not stack traces: the cache stays small
                if len(self._cache) >= 4096:
                    self._cache.clear()
                self._cache[value] = got
        return got

    def _text(self, value: str) -> str:
        original = value
        for s in self.secrets:
            if s in value:
                value = value.replace(s, "***")
        if value is original and not _SUSPECT.search(value):
            return value  # the common case: one scan instead of eight substitutions
        value = _CRED_IN_URL.sub("", value)
        value = _SECRET_QUERY.sub(r"\1***", value)
        for pattern, replacement in _PATTERNS:
            value = pattern.sub(replacement, value)
        return value

    def value(self, v: Any) -> Any:
        if isinstance(v, str):
            return self.text(v)
        if isinstance(v, (tuple, list)):
            return tuple(self.text(x) if isinstance(x, str) else x for x in v)
        return v

    def clean(self, *items: str | Mapping[str, Any] | None) -> bool:
        """True when scrubbing would change none of these texts and attribute values."""
        text = self.text
        for item in items:
            if item is None:
                continue
            if isinstance(item, str):
                if text(item) != item:
                    return False
                continue
            for v in item.values():
                if isinstance(v, str):
                    if text(v) != v:
                        return False
                elif isinstance(v, (tuple, list)) and any(isinstance(x, str) and text(x) != x for x in v):
                    return False
        return True

    def attributes(self, attrs: Mapping[str, Any] | None) -> dict[str, Any]:
        return {k: self.value(v) for k, v in (attrs or {}).items()}


class ScrubbingSpanExporter:
    """Wraps a span exporter: every name, attribute, event, link and status text is scrubbed first."""

    def __init__(self, inner: Any, scrubber: Scrubber) -> None:
        self.inner, self.scrubber = inner, scrubber

    def export(self, spans: Sequence[Any]) -> Any:
        return self.inner.export([self._clean(s) for s in spans])

    def _clean(self, s: Any) -> Any:
        from opentelemetry.sdk.trace import Event, ReadableSpan
        from opentelemetry.trace import Link

        sc = self.scrubber
        if sc.clean(s.name, s.attributes, s.status.description, *(e.attributes for e in s.events),
                    *(lk.attributes for lk in s.links)):
            return s  # nothing to remove (the common case): no copy
        status = s.status
        if status.description:
            status = Status(status.status_code, sc.text(status.description))
        return ReadableSpan(
            name=sc.text(s.name), context=s.context, parent=s.parent, resource=s.resource,
            attributes=sc.attributes(s.attributes),
            events=[Event(e.name, sc.attributes(e.attributes), e.timestamp) for e in s.events],
            links=[Link(lk.context, sc.attributes(lk.attributes)) for lk in s.links],
            kind=s.kind, status=status, start_time=s.start_time, end_time=s.end_time,
            instrumentation_scope=s.instrumentation_scope)

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        flush = getattr(self.inner, "force_flush", None)
        return bool(flush(timeout_millis)) if flush else True


class FileSpanExporter:
    """Spans as JSON lines appended to a local file (``make run``: ``.local/traces.jsonl``)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        lines = "".join(json.dumps(span_json(s), default=str) + "\n" for s in spans)
        with self._lock, open(self.path, "a", encoding="utf-8") as f:
            f.write(lines)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def span_json(s: Any) -> dict[str, Any]:
    return {"trace_id": f"{s.context.trace_id:032x}", "span_id": f"{s.context.span_id:016x}",
            "parent_id": f"{s.parent.span_id:016x}" if s.parent else None, "name": s.name,
            "kind": s.kind.name, "start": s.start_time, "end": s.end_time,
            "status": s.status.status_code.name, "attributes": dict(s.attributes or {})}


def scrub_url(url: str) -> str:
    """Drop ``user:token@`` from a URL before it reaches a trace, a log or the audit."""
    return _CRED_IN_URL.sub("", url)


def redact(text: str, secrets: list[str | None]) -> str:
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "***")
    return scrub_url(text)


# ----------------------------------------------------------------- spans and context
_tracer: tuple[Any, trace.Tracer] | None = None


def tracer() -> trace.Tracer:
    """The app's tracer, cached per tracer provider (``get_tracer`` builds a new one per call)."""
    global _tracer
    ensure_configured()
    provider = trace.get_tracer_provider()
    cached = _tracer
    if cached is None or cached[0] is not provider:
        cached = _tracer = (provider, trace.get_tracer(TRACER_NAME))
    return cached[1]


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


def host_carrier(context: Any) -> dict[str, str]:
    """The trace context the Functions host passed to this invocation (``context.trace_context``)."""
    tc = getattr(context, "trace_context", None)
    parent = getattr(tc, "trace_parent", None) or getattr(tc, "Traceparent", None)
    if not parent:
        return {}
    carrier = {"traceparent": str(parent)}
    state = getattr(tc, "trace_state", None) or getattr(tc, "Tracestate", None)
    if state:
        carrier["tracestate"] = str(state)
    return carrier


@contextlib.contextmanager
def invocation(context: Any = None) -> Iterator[None]:
    """Around one function invocation: configure on first use; parent to the host's trace context.

    With ``PYTHON_ENABLE_OPENTELEMETRY`` the worker has attached that context already; it is not
    attached twice.
    """
    ensure_configured()
    carrier = host_carrier(context)
    if not carrier or trace.get_current_span().get_span_context().is_valid:
        yield
        return
    with attached_context(carrier):
        yield


@contextlib.contextmanager
def resumed(trace_id: str | None, name: str, attributes: Mapping[str, Any] | None = None) -> Iterator[None]:
    """Continue a deployment's own trace (a person released it): a span there, linked to the current span.

    The span's parent is not known (only the trace id is stored), so it hangs off the trace's root.
    """
    here = current_span_context()
    try:
        tid = int(trace_id or "", 16)
    except ValueError:
        tid = 0
    if not tid or (here is not None and here.trace_id == tid):
        yield
        return
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    parent = SpanContext(tid, int.from_bytes(os.urandom(8), "big") or 1, is_remote=True,
                         trace_flags=TraceFlags(TraceFlags.SAMPLED))
    token = otel_context.attach(trace.set_span_in_context(NonRecordingSpan(parent)))
    try:
        with span(name, attributes, links=[trace.Link(here)] if here is not None else None):
            yield
    finally:
        otel_context.detach(token)


def deployment_attributes(*, environment: str | None = None, component: str | None = None,
                          deployment_id: str | None = None, commit: str | None = None,
                          ref: str | None = None, repository: str | None = None,
                          provider: str | None = None, action: str | None = None) -> dict[str, str]:
    attrs: dict[str, str] = {}
    if component:
        attrs[PIPELINE_NAME] = pipeline_name(component)
        attrs[COMPONENT] = component
    if action:
        attrs[PIPELINE_ACTION] = action
    if deployment_id:
        attrs[PIPELINE_RUN_ID] = deployment_id
    if environment:
        attrs[ENVIRONMENT] = environment
    if commit:
        attrs[VCS_REVISION] = commit
    if ref:
        attrs.update(ref_attributes(ref))
    if repository:
        attrs[VCS_URL] = scrub_url(repository)
        name = repository_name(repository)
        if name:
            attrs[VCS_REPOSITORY] = name
    if provider:
        attrs[VCS_PROVIDER] = provider
    return attrs


def pipeline_name(component: str) -> str:
    return f"dataops-{component}"


def ref_attributes(ref: str) -> dict[str, str]:
    """``refs/heads/main`` -> name ``main``, type ``branch``; ``refs/tags/v1`` -> ``v1``, ``tag``."""
    if ref.startswith("refs/heads/"):
        return {VCS_REF: ref[len("refs/heads/"):], VCS_REF_TYPE: "branch"}
    if ref.startswith("refs/tags/"):
        return {VCS_REF: ref[len("refs/tags/"):], VCS_REF_TYPE: "tag"}
    return {VCS_REF: ref, VCS_REF_TYPE: "branch"}


def repository_name(repository: str) -> str:
    """The repository's own name without owner/group (``contoso/data-platform.git`` -> ``data-platform``)."""
    tail = scrub_url(repository).rstrip("/").rsplit("/", 1)[-1]
    tail = tail.rsplit(":", 1)[-1]
    return tail[:-4] if tail.endswith(".git") else tail


# vcs.provider.name: the registry's values where one applies; ours otherwise.
PROVIDERS = {"github": "github", "gitlab": "gitlab", "azure-devops": "azure_devops", "local": "local"}


@contextlib.contextmanager
def span(name: str, attributes: Mapping[str, Any] | None = None,
         kind: SpanKind = SpanKind.INTERNAL, links: Sequence[Any] | None = None) -> Iterator[Span]:
    """A span that records an error status and ``error.type`` (never the exception's message or args)."""
    with tracer().start_as_current_span(name, kind=kind, record_exception=False,
                                        set_status_on_exception=False, links=links) as s:
        if attributes:
            s.set_attributes({k: v for k, v in attributes.items() if v is not None})
        try:
            yield s
        except Exception as exc:
            s.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            s.set_attribute(ERROR_TYPE, type(exc).__name__)
            raise


@contextlib.contextmanager
def summarised_calls() -> Iterator[Any]:
    """HTTP calls in this block make no span of their own; storage calls are counted and timed instead.

    The webhook's hot path: its storage calls as HTTP client spans were most of what tracing cost
    the 202 (docs/telemetry.md, Overhead). azure-core leaves a call out through its supported
    per-operation ``tracing_options`` (the call sites pass ``storage.sdk_options()``), and the requests
    instrumentation through OpenTelemetry's ``suppress_http_instrumentation``. Yields the
    :class:`~shared.storage.CallTally`; the caller puts it on its span.
    """
    from opentelemetry.instrumentation.utils import suppress_http_instrumentation

    from .storage import untraced_calls

    with untraced_calls() as tally, suppress_http_instrumentation():
        yield tally


@contextlib.contextmanager
def task_span(task: str, **attributes: Any) -> Iterator[Span]:
    """One step of a deployment (``cicd.pipeline.task.*``, kind INTERNAL)."""
    with span(f"dataops.task {task}", {TASK_NAME: task, **attributes}) as s:
        yield s


def set_result(s: Span, status: str, error: str | None = None) -> str:
    result = result_of(status, error)
    s.set_attribute(PIPELINE_RESULT, result)
    s.set_attribute("dataops.deployment.status", status)
    if result in ("failure", "error", "timeout"):
        s.set_status(Status(StatusCode.ERROR, f"deployment {status}"))
        s.set_attribute(ERROR_TYPE, result if result != "failure" else "deployment_failed")
    return result


class ContextPool(ThreadPoolExecutor):
    """A thread pool whose tasks run in the submitter's context: their spans stay in its trace."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        ctx = contextvars.copy_context()
        return super().submit(ctx.run, fn, *args, **kwargs)


# The pipeline run in progress: its id and how it ended (``run_ended``), read by ``pipeline_run``.
_run_outcome: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("dataops_run_outcome",
                                                                                   default=None)


def run_ended(run_id: str, status: str, error: str | None = None) -> None:
    """A deployment reached its final status (with its error): the result of its run span."""
    outcome = _run_outcome.get()
    if outcome is not None and outcome.get("run_id") == run_id:
        outcome["ended"] = (status, error)


# The low-cardinality attributes of the pipeline run in progress (environment, component), added to
# the counters recorded under it.
_run_attrs: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("dataops_run_attrs",
                                                                                 default=None)


# ----------------------------------------------------------------- metrics
class _Instruments:
    def __init__(self) -> None:
        m = otel_metrics.get_meter(TRACER_NAME)
        self.run_duration = m.create_histogram(
            "cicd.pipeline.run.duration", unit="s",
            description="Duration of a pipeline run grouped by pipeline, state and result.")
        self.run_active = m.create_up_down_counter(
            "cicd.pipeline.run.active", unit="{run}", description="The number of pipeline runs currently active.")
        self.run_errors = m.create_counter(
            "cicd.pipeline.run.errors", unit="{error}", description="The number of errors in pipeline runs.")
        self.http_duration = m.create_histogram(
            "http.server.request.duration", unit="s", description="Duration of HTTP server requests.")
        self.queue_wait = m.create_histogram(
            "dataops.deployment.queue.wait", unit="s",
            description="Time from a deployment being queued to its run starting.")
        self.notebook_imports = m.create_counter(
            "dataops.notebooks.imports", unit="{notebook}", description="Notebooks imported into a workspace.")
        self.throttled = m.create_counter(
            "dataops.http.client.throttled", unit="{response}", description="HTTP 429 answers from a target API.")
        self.retries = m.create_counter(
            "dataops.http.client.retries", unit="{retry}", description="Retried calls to a target API.")
        self.trigger_changes = m.create_counter(
            "dataops.adf.trigger.changes", unit="{trigger}", description="Data Factory triggers stopped/started.")
        self.schedule_actions = m.create_counter(
            "dataops.schedule.actions", unit="{action}", description="Environment schedule actions run.")


_instruments: _Instruments | None = None


def instruments() -> _Instruments:
    global _instruments
    if _instruments is None:
        ensure_configured()
        _instruments = _Instruments()
    return _instruments


def count(name: str, attrs: Mapping[str, Any] | None = None, /, **attributes: Any) -> None:
    """Add one to a counter above (``notebook_imports``, ``throttled``, ``retries`` ...).

    The environment and component of the pipeline run in progress are added to the attributes.
    """
    merged = {**(_run_attrs.get() or {}), **(attrs or {}), **attributes}
    getattr(instruments(), name).add(1, {k: v for k, v in merged.items() if v is not None})


def current_span_context() -> Any:
    """The current span context when valid (to link to it from a span of another trace), else None."""
    ctx = trace.get_current_span().get_span_context()
    return ctx if ctx.is_valid else None


@contextlib.contextmanager
def counted(name: str, **attributes: Any) -> Iterator[None]:
    """Count one operation with ``result`` success or failure (``error.type`` on failure)."""
    try:
        yield
    except Exception as exc:
        count(name, {ERROR_TYPE: type(exc).__name__}, result="failure", **attributes)
        raise
    count(name, result="success", **attributes)


@contextlib.contextmanager
def pipeline_run(*, action: str, pipeline: str, environment: str, run_id: str,
                 attributes: Mapping[str, Any] | None = None, component: str | None = None,
                 link_to: Any = None, queued_at: Any = None, now: Any = None,
                 ) -> Iterator[Callable[..., None]]:
    """The ``{action} {pipeline}`` SERVER span of one pipeline run, with the CICD metrics.

    Yields ``finish(status, error=None)``: the run's status (a deployment status) becomes
    ``cicd.pipeline.result`` on the span and on ``cicd.pipeline.run.duration``. ``link_to`` is a
    span context of another trace (the Functions host's invocation) linked from the run span.
    """
    base = {PIPELINE_NAME: pipeline, ENVIRONMENT: environment}
    if component:
        base[COMPONENT] = component
    attrs = {**base, PIPELINE_ACTION: action, PIPELINE_RUN_ID: run_id, **(attributes or {})}
    inst = instruments()
    if queued_at is not None and now is not None:
        try:
            wait = max(0.0, (now - queued_at).total_seconds())
        except (TypeError, AttributeError):
            wait = None
        if wait is not None:
            inst.queue_wait.record(wait, base)
            inst.run_duration.record(wait, {**base, PIPELINE_RUN_STATE: "pending"})
    executing = {**base, PIPELINE_RUN_STATE: "executing"}
    outcome: dict[str, Any] = {"run_id": run_id}

    def finish(status: str, error: str | None = None) -> None:
        ended = outcome.get("ended")
        if error is None and ended and ended[0] == status:
            error = ended[1]
        outcome["status"], outcome["error"] = status, error

    here = current_span_context()
    links = None
    if link_to is not None and (here is None or here.trace_id != link_to.trace_id):
        links = [trace.Link(link_to, {"dataops.link": "functions.invocation"})]
    start = time.monotonic()
    inst.run_active.add(1, executing)
    token = _run_attrs.set({ENVIRONMENT: environment, **({COMPONENT: component} if component else {})})
    outcome_token = _run_outcome.set(outcome)
    try:
        with span(f"{action} {pipeline}", attrs, kind=SpanKind.SERVER, links=links) as s:
            try:
                yield finish
            except Exception as exc:
                outcome.setdefault("status", "failed")
                outcome.setdefault("error", type(exc).__name__)
                raise
            finally:
                result = set_result(s, outcome.get("status", "failed"), outcome.get("error"))
                rec = {**executing, PIPELINE_RESULT: result}
                if result in ("failure", "error", "timeout"):
                    rec[ERROR_TYPE] = "deployment_failed" if result == "failure" else result
                    inst.run_errors.add(1, {**base, ERROR_TYPE: rec[ERROR_TYPE]})
                inst.run_duration.record(time.monotonic() - start, rec)
    finally:
        _run_outcome.reset(outcome_token)
        _run_attrs.reset(token)
        inst.run_active.add(-1, executing)


def run_started(record: Any, now: Any, provider: str | None = None) -> None:
    """A deployment starts executing: repository attributes on the run span, and its queue wait."""
    current = trace.get_current_span()
    attrs = deployment_attributes(repository=getattr(record, "repository", "") or None,
                                  provider=PROVIDERS.get(provider or "", provider))
    if attrs:
        current.set_attributes(attrs)
    queued = getattr(record, "queued_at", None)
    if queued is None or getattr(record, "status", "queued") not in ("queued", "waiting_lock"):
        return
    try:
        wait = max(0.0, (now - queued).total_seconds())
    except (TypeError, AttributeError):
        return
    base = {PIPELINE_NAME: pipeline_name(record.component), ENVIRONMENT: record.environment,
            COMPONENT: record.component}
    inst = instruments()
    inst.queue_wait.record(wait, base)
    inst.run_duration.record(wait, {**base, PIPELINE_RUN_STATE: "pending"})


@contextlib.contextmanager
def http_request(method: str, route: str, context: Any = None) -> Iterator[Callable[[int], None]]:
    """The SERVER span ``{method} /api/{route}`` of one HTTP invocation and ``http.server.request.duration``."""
    with invocation(context):
        status: dict[str, int] = {}
        start = time.monotonic()
        attrs = {"http.request.method": method, "http.route": f"/api/{route}"}
        with span(f"{method} /api/{route}", attrs, kind=SpanKind.SERVER) as s:
            try:
                yield lambda code: status.__setitem__("code", code)
            finally:
                code = status.get("code", 500)
                s.set_attribute("http.response.status_code", code)
                if code >= 500:
                    s.set_status(Status(StatusCode.ERROR, str(code)))
                    s.set_attribute(ERROR_TYPE, str(code))
                instruments().http_duration.record(time.monotonic() - start,
                                                   {**attrs, "http.response.status_code": code})
