"""Errors that cross the boundary to a caller.

Every error a caller can cause carries a stable machine ``code`` and an HTTP
``status``; handlers turn it into ``{"error": code, "message": text}`` and the
CLI into a message and a non-zero exit. Anything else is our bug (a 500).
"""

from __future__ import annotations

from typing import Any


class DataOpsError(Exception):
    """Base of all errors with a caller-facing meaning."""

    code = "error"
    status = 400

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details = details

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body


class BadRequest(DataOpsError):
    code = "bad_request"
    status = 400


class Unauthorized(DataOpsError):
    code = "unauthorized"
    status = 401


class Forbidden(DataOpsError):
    code = "forbidden"
    status = 403


class NotFound(DataOpsError):
    code = "not_found"
    status = 404


class Conflict(DataOpsError):
    code = "conflict"
    status = 409


class PayloadTooLarge(DataOpsError):
    code = "payload_too_large"
    status = 413


class Unavailable(DataOpsError):
    """A dependency (storage, a target API) is unreachable: the caller may retry."""

    code = "unavailable"
    status = 503


class ConfigError(DataOpsError):
    """The configuration file is invalid; ``problems`` lists each one by key path."""

    code = "invalid_config"
    status = 400

    def __init__(self, problems: list[str], source: str = "configuration") -> None:
        self.problems = list(problems)
        text = f"{source} is invalid:\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(text, details=self.problems)


def unreachable(exc: BaseException) -> Unavailable | None:
    """An Azure SDK connection failure (storage, ARM, Databricks down) as a caller-facing 503, else None."""
    from azure.core.exceptions import ServiceRequestError, ServiceResponseError

    if isinstance(exc, ServiceRequestError | ServiceResponseError | ConnectionError | TimeoutError):
        return Unavailable(f"a service this needs is unreachable ({type(exc).__name__}); try again later")
    return None
