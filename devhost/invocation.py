"""The invocation context the dev host passes to a function that declares ``context``.

Like the Functions host, each invocation gets a W3C trace context of its own
(``context.trace_context.trace_parent``): for an HTTP trigger it continues the
caller's ``traceparent`` header (same trace id, a new span id for the host's
invocation), otherwise it starts a new trace. Queue and timer invocations
start a new trace, as the host does for Storage queues (the trace of a queued
request travels in the message body, which is the app's business).
"""

from __future__ import annotations

import inspect
import re
import secrets
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import azure.functions as func
from azure.functions._abc import RetryContext, TraceContext

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


class _Trace(TraceContext):
    def __init__(self, parent: str, state: str) -> None:
        self._parent, self._state = parent, state

    @property
    def trace_parent(self) -> str:
        return self._parent

    @property
    def trace_state(self) -> str:
        return self._state

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class _Retry(RetryContext):
    def __init__(self, count: int, max_count: int) -> None:
        self._count, self._max = count, max_count

    @property
    def retry_count(self) -> int:
        return self._count

    @property
    def max_retry_count(self) -> int:
        return self._max

    @property
    def exception(self) -> Any:
        return None


class InvocationContext(func.Context):
    def __init__(self, function_name: str, directory: str, trace: _Trace, retry: _Retry) -> None:
        self._id = str(uuid.uuid4())
        self._name, self._dir, self._trace, self._retry = function_name, directory, trace, retry
        self._tls = threading.local()
        self._tls.invocation_id = self._id

    @property
    def invocation_id(self) -> str:
        return self._id

    @property
    def thread_local_storage(self) -> Any:
        return self._tls

    @property
    def function_name(self) -> str:
        return self._name

    @property
    def function_directory(self) -> str:
        return self._dir

    @property
    def trace_context(self) -> TraceContext:
        return self._trace

    @property
    def retry_context(self) -> RetryContext:
        return self._retry


def trace_parent(headers: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The host's invocation ``traceparent``: the caller's trace continued, or a new one."""
    h = {k.lower(): v for k, v in (headers or {}).items()}
    m = _TRACEPARENT.match(h.get("traceparent", "").strip().lower())
    trace_id = m.group(1) if m and int(m.group(1), 16) else secrets.token_hex(16)
    flags = m.group(3) if m else "01"
    return f"00-{trace_id}-{secrets.token_hex(8)}-{flags}", h.get("tracestate", "") if m else ""


def context_kwargs(fn: Callable[..., Any], function_name: str, directory: str, *,
                   headers: Mapping[str, str] | None = None, attempt: int = 0,
                   max_attempts: int = 0) -> dict[str, Any]:
    """``{"context": ...}`` when the function declares a ``context`` parameter, else nothing."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {}
    if "context" not in params:
        return {}
    parent, state = trace_parent(headers)
    return {"context": InvocationContext(function_name, directory, _Trace(parent, state),
                                         _Retry(attempt, max_attempts))}
