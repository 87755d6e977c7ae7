"""Errors by kind: what went wrong, in domain terms, and whether trying again can help.

Every error a caller can cause (or a dependency can cause) is a
:class:`DataOpsError` of one *kind* (:class:`InvalidInput`, :class:`NotFound`,
:class:`Conflict`, :class:`Unauthorized`, :class:`Forbidden`,
:class:`TooLarge`, :class:`TargetFailed`, :class:`Throttled`,
:class:`Unavailable`). It carries a stable machine ``code``, a message and
``retryable`` (with ``retry_after`` seconds when the other side said so).

Nothing here knows HTTP or exit codes: ``functions/_http.py`` maps kinds to HTTP
statuses and ``shared/cli`` to exit codes, at the edge (as databricks-sdk keeps
its error mapping at the transport). Anything else is our bug (a 500).
"""

from __future__ import annotations

from typing import Any


class DataOpsError(Exception):
    """Base of all errors with a caller-facing meaning."""

    kind = "error"
    code = "error"
    retryable = False

    def __init__(self, message: str, *, code: str | None = None, details: Any = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details
        self.retry_after = retry_after

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body


class InvalidInput(DataOpsError):
    """The caller asked for something malformed or impossible; asking again the same way fails again."""

    kind = "invalid_input"
    code = "bad_request"


# The former, HTTP-shaped name of :class:`InvalidInput` (same class).
BadRequest = InvalidInput


class TooLarge(InvalidInput):
    """The input is over a size limit."""

    kind = "too_large"
    code = "payload_too_large"


PayloadTooLarge = TooLarge


class ConfigError(InvalidInput):
    """The configuration file is invalid; ``problems`` lists each one by key path."""

    kind = "invalid_config"
    code = "invalid_config"

    def __init__(self, problems: list[str], source: str = "configuration") -> None:
        self.problems = list(problems)
        text = f"{source} is invalid:\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(text, details=self.problems)


class Unauthorized(DataOpsError):
    """Who is calling is unknown or not proven (no or a wrong signature, no principal)."""

    kind = "unauthorized"
    code = "unauthorized"


class Forbidden(DataOpsError):
    """The caller is known and may not do this."""

    kind = "forbidden"
    code = "forbidden"


class NotFound(DataOpsError):
    kind = "not_found"
    code = "not_found"


class Conflict(DataOpsError):
    """The request contradicts the current state (already ended, lock taken, ...)."""

    kind = "conflict"
    code = "conflict"


class TargetFailed(DataOpsError):
    """A target service (ARM, Data Factory, Databricks) refused or failed an operation."""

    kind = "target_failed"
    code = "target_failed"


class Unavailable(DataOpsError):
    """A dependency (storage, a git host, a target API) is unreachable: the caller may retry."""

    kind = "unavailable"
    code = "unavailable"
    retryable = True


class Throttled(Unavailable):
    """A dependency asked us to slow down; ``retry_after`` says for how long when it said so."""

    kind = "throttled"
    code = "throttled"


def unreachable(exc: BaseException) -> Unavailable | None:
    """An Azure SDK connection failure (storage, ARM, Databricks down) as :class:`Unavailable`, else None."""
    from azure.core.exceptions import ServiceRequestError, ServiceResponseError

    if isinstance(exc, ServiceRequestError | ServiceResponseError | ConnectionError | TimeoutError):
        from .timeouts import SERVICE_NAMES, reason_of

        host = _host_in(exc)
        service = _service_in(exc)
        if service:
            return Unavailable(f"{SERVICE_NAMES.get(service, service)} {host or '?'} is unreachable: "
                               f"{reason_of(exc)}", details={"service": service, "host": host})
        where = f" ({host})" if host else ""
        return Unavailable(f"a service this needs{where} is unreachable: {reason_of(exc)}; try again later",
                           details={"host": host} if host else None)
    return None


def _host_in(exc: BaseException) -> str | None:
    """``host:port`` of the connection that failed, from urllib3's errors in the chain (never a URL path)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        holders = [getattr(cur, "conn", None)]
        if holders[0] is None and "pool" in getattr(cur, "__dict__", {}):
            holders.append(cur.__dict__["pool"])  # urllib3's MaxRetryError (its pool property is deprecated)
        for holder in holders:
            host = getattr(holder, "host", None)
            if isinstance(host, str) and host:
                port = getattr(holder, "port", None)
                return f"{host}:{port}" if port else host
        nxt = getattr(cur, "inner_exception", None) or (cur.args[0] if cur.args else None)
        cur = nxt if isinstance(nxt, BaseException) else (cur.__cause__ or cur.__context__)
    return None


def _service_in(exc: BaseException) -> str | None:
    """The service a client marked on its connection error (``exc.dataops_service``), if any."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        service = getattr(cur, "dataops_service", None)
        if isinstance(service, str):
            return service
        cur = cur.__cause__ or cur.__context__
    return None
