"""Bounded time for every call to an external service, and one clear error when a service cannot be reached.

The ``timeouts:`` block of the configuration (:class:`Timeouts`) gives, in seconds, how long to wait
to *connect* (TCP and TLS) and to *read* (each wait for the next bytes of an answer), with optional
per-service overrides (``databricks``, ``arm``, ``storage``, ``git``, ``notify``). Two kinds of
failure are kept apart everywhere:

* **throttled** (429, or 503 with ``Retry-After``): the service is there and asks us to slow down; the
  call waits as told, within the operation's throttle budget (minutes: ``throttle_budget``);
* **unreachable** (connection refused, name not resolved, no connection within ``connect`` seconds, no
  answer within ``read`` seconds, connection reset): retried ``unreachable_retries`` times with a short
  back-off, then :class:`~shared.errors.Unavailable` naming the service and the host, in seconds
  rather than minutes. Every such call is idempotent (a GET, a PUT of a named object, a start or stop),
  so trying it again is safe.

:func:`unreachable_error` builds that error from whatever a client library raised (requests,
urllib3, azure-core, urllib) without the URL's query or any credential.
"""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from .errors import Unavailable

SERVICES = ("databricks", "arm", "storage", "git", "notify")
SERVICE_NAMES = {"databricks": "Databricks workspace", "arm": "Azure Resource Manager",
                 "storage": "Azure Storage", "git": "git host", "notify": "notification webhook"}


class ServiceTimeouts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connect: float | None = Field(default=None, gt=0, le=300, description="seconds to open a connection "
                                  "(overrides timeouts.connect for this service)")
    read: float | None = Field(default=None, gt=0, le=3600, description="seconds to wait for the next bytes "
                               "of an answer (overrides timeouts.read for this service)")


class Timeouts(BaseModel):
    """Connect and read timeouts, in seconds, of every call to an external service."""

    model_config = ConfigDict(extra="forbid")

    connect: float = Field(default=5.0, gt=0, le=300, description="seconds to open a connection (TCP and "
                           "TLS) to any external service")
    read: float = Field(default=60.0, gt=0, le=3600, description="seconds to wait for the next bytes of an "
                        "answer from any external service (a long-running operation is polled, so this is "
                        "per request, not per operation)")
    unreachable_retries: int = Field(default=2, ge=0, le=10, description="a call that cannot connect, or gets "
                                     "no answer in time, is tried this many more times before it fails as "
                                     "unavailable (throttling is waited out within the throttle budget instead)")
    databricks: ServiceTimeouts = Field(default_factory=ServiceTimeouts)
    arm: ServiceTimeouts = Field(default_factory=ServiceTimeouts)
    storage: ServiceTimeouts = Field(default_factory=lambda: ServiceTimeouts(read=30.0))
    git: ServiceTimeouts = Field(default_factory=ServiceTimeouts)
    notify: ServiceTimeouts = Field(default_factory=lambda: ServiceTimeouts(read=10.0))

    def of(self, service: str) -> tuple[float, float]:
        """(connect, read) seconds for ``service`` (one of :data:`SERVICES`)."""
        own: ServiceTimeouts = getattr(self, service)
        return (own.connect or self.connect, own.read or self.read)

    def connect_of(self, service: str) -> float:
        return self.of(service)[0]

    def read_of(self, service: str) -> float:
        return self.of(service)[1]


DEFAULT = Timeouts()


def host_of(url: str | None) -> str:
    """``host[:port]`` of a URL (no user info, path or query), or the text itself when it is no URL."""
    if not url:
        return "?"
    try:
        parts = urlsplit(url if "//" in url else f"//{url}")
        host = parts.hostname or url
        return f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return "?"


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen and len(seen) < 12:
        seen.append(cur)
        nxt = getattr(cur, "inner_exception", None) or getattr(cur, "error", None) or getattr(cur, "reason", None)
        if not isinstance(nxt, BaseException):
            nxt = cur.__cause__ or cur.__context__
        cur = nxt
    return seen


def reason_of(exc: BaseException, read_timeout: float | None = None, connect_timeout: float | None = None) -> str:
    """Why a connection failed, in a few words (never the URL or a credential)."""
    chain = _chain(exc)
    names = " ".join(type(e).__name__ for e in chain)
    text = " ".join(str(e) for e in chain).lower()
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "connection refused" in text \
            or "errno 111" in text:
        return "connection refused"
    if any(isinstance(e, socket.gaierror) for e in chain) or "name or service not known" in text \
            or "nodename nor servname" in text or "failed to resolve" in text or "name resolution" in text:
        return "host name not resolved"
    if "ConnectTimeout" in names or "connecttimeout" in text or "ServiceRequestTimeoutError" in names:
        return f"no connection within {connect_timeout:g}s" if connect_timeout else "connect timed out"
    if "ReadTimeout" in names or "read timed out" in text or "ServiceResponseTimeoutError" in names \
            or any(isinstance(e, TimeoutError | socket.timeout) for e in chain):
        return f"no answer within {read_timeout:g}s" if read_timeout else "no answer in time"
    if any(isinstance(e, ConnectionResetError) for e in chain) or "connection reset" in text \
            or "connection aborted" in text or "remotedisconnected" in names.lower():
        return "connection reset"
    return f"cannot connect ({type(exc).__name__})"


def unreachable_error(service: str, url_or_host: str | None, exc: BaseException, *,
                      timeouts: tuple[float, float] | None = None, code: str | None = None) -> Unavailable:
    """The :class:`Unavailable` for ``service`` at the host of ``url_or_host`` failing with ``exc``."""
    connect, read = timeouts or (None, None)
    host = host_of(url_or_host)
    name = SERVICE_NAMES.get(service, service)
    reason = reason_of(exc, read, connect)
    return Unavailable(f"{name} {host} is unreachable: {reason}", code=code or f"{service}_unreachable",
                       details={"service": service, "host": host, "reason": reason})


def is_connection_failure(exc: BaseException) -> bool:
    """A failure to reach the other side (not an answer from it): connection errors and timeouts."""
    import requests
    from azure.core.exceptions import ServiceRequestError, ServiceResponseError

    return isinstance(exc, ServiceRequestError | ServiceResponseError | requests.ConnectionError
                      | requests.Timeout | ConnectionError | TimeoutError | socket.timeout)


def timeouts_of(part: Any) -> Timeouts:
    """The ``timeouts:`` block a configured target or repository was loaded with (else the defaults)."""
    return getattr(part, "_timeouts", None) or DEFAULT
