"""Databricks SDK calls under our retry policy: throttling waited out, an unreachable host failed fast.

databricks-sdk retries inside one loop bounded by ``retry_timeout_seconds`` alone: 429/503 with
``Retry-After`` (sleeping as told) *and* connection errors and timeouts (sleeping 1, 2, ... 10 s), so one
budget cannot be both "wait out a throttling storm" (minutes) and "fail an unreachable host" (seconds).
We hand every retry back to the caller instead: the clients get a clock whose ``sleep`` raises
:class:`HandBack` (the SDK always asks its clock before retrying), and :func:`classify` turns what
failed into a :class:`~shared.notebooks.throttle.WorkspaceCallError` for the
:class:`~shared.notebooks.throttle.AdaptivePacer`, which waits out 429s within the throttle budget and
gives an unreachable host ``timeouts.unreachable_retries`` more tries. :func:`run` is that, for one call,
ending an unreachable host as :class:`~shared.errors.Unavailable` naming the workspace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ..notebooks.throttle import AdaptivePacer, WorkspaceCallError
from ..timeouts import unreachable_error

if TYPE_CHECKING:
    from ..errors import Unavailable

T = TypeVar("T")


class HandBack(Exception):
    """Raised by the SDK clock's ``sleep``: the SDK wanted to retry; we decide instead."""


def no_retry_clock() -> Any:
    import time

    from databricks.sdk.clock import Clock

    class HandBackClock(Clock):
        def time(self) -> float:
            return time.time()

        def sleep(self, seconds: float) -> None:
            raise HandBack()

    return HandBackClock()


def _status_of(err: BaseException) -> int | None:
    from databricks.sdk.errors import platform

    for status, cls in platform.STATUS_CODE_MAPPING.items():
        if isinstance(err, cls):
            return status
    return None


def classify(exc: BaseException) -> WorkspaceCallError:
    """Turn an SDK/requests error into a WorkspaceCallError (no token or URL secrets in the text)."""
    import requests
    from databricks.sdk.errors import DatabricksError

    if isinstance(exc, HandBack) and exc.__context__ is not None:
        exc = exc.__context__
    if isinstance(exc, TimeoutError) and isinstance(exc.__cause__, requests.RequestException):
        exc = exc.__cause__  # the SDK's retry loop gave up on a connection error
    if isinstance(exc, WorkspaceCallError):
        return exc
    if isinstance(exc, DatabricksError):
        retry_after = getattr(exc, "retry_after_secs", None)
        return WorkspaceCallError(f"{exc.error_code or type(exc).__name__}: {exc}"[:500],
                                  status=_status_of(exc), code=exc.error_code or "",
                                  retry_after=float(retry_after) if retry_after is not None else None)
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        err = WorkspaceCallError(f"connection error: {type(exc).__name__}", status=None, unreachable=True)
        err.cause = exc
        return err
    if isinstance(exc, requests.RequestException):
        return WorkspaceCallError(f"connection error: {type(exc).__name__}", status=None)
    return WorkspaceCallError(f"{type(exc).__name__}: {exc}"[:500], status=None, code="unexpected")


def as_unavailable(err: WorkspaceCallError, host: str, timeouts: tuple[float, float]) -> Unavailable | None:
    """The :class:`Unavailable` naming the workspace when ``err`` is a host that cannot be reached."""
    if not err.unreachable:
        return None
    return unreachable_error("databricks", host, err.cause or err, timeouts=timeouts)


def run(pacer: AdaptivePacer, fn: Callable[[], T], host: str, timeouts: tuple[float, float]) -> T:
    """``fn`` (one SDK request, its result materialised) under ``pacer``; an unreachable host as
    :class:`Unavailable`, any other failure as the SDK raised it."""
    def once() -> T:
        try:
            return fn()
        except Exception as exc:
            raise classify(exc) from exc

    try:
        return pacer.call(once)
    except WorkspaceCallError as err:
        down = as_unavailable(err, host, timeouts)
        if down is not None:
            raise down from None
        cause = err.__cause__
        if isinstance(cause, HandBack) and cause.__context__ is not None:
            cause = cause.__context__
        if cause is not None and not isinstance(cause, WorkspaceCallError):
            raise cause from None  # callers see the SDK's own error (a 400, a 404 ...)
        raise
