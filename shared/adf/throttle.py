"""Retry ARM throttling (429) and transient failures within a time budget per operation, not a count.

ARM throttles with 429 and ``Retry-After`` (seconds; ``retry-after-ms`` /
``x-ms-retry-after-ms`` are honoured too); a sustained storm outlasts any fixed
number of retries (azure-core's default policy gives up after a few). This
policy, installed as the SDK clients' ``retry_policy``, keeps retrying one
HTTP call that was throttled (429, or 503 with ``Retry-After``) while the
next wait still fits in ``budget_s`` (default 10 minutes, configurable as
``data_factory.throttle_budget``). Other transient failures (408, 500, 502,
503, 504, connection failures) are not throttling: they get at most
``max_transient`` retries (3, as azure-core's own policy gives), within the
same budget, so a broken call fails in seconds rather than ten minutes. Connection failures are
retried on their own counts (every ARM call we make is idempotent: GETs, PUTs of named resources and
deployments, trigger start/stop): a reset or dropped connection (``ServiceResponseError``: the host
is there) up to ``max_resets`` times, a host that cannot be reached at all (refused, not resolved,
connect or read timeout) ``max_unreachable`` times (``timeouts.unreachable_retries``), with waits of at
most 2 s. When it does not, the last answer goes back
to the caller (a 429 becomes the caller's error, with ARM's code). Waits
without ``Retry-After`` back off exponentially (``base_s`` doubling, capped).
``sleep`` and ``monotonic`` are injected so tests need not wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import HTTPPolicy
from azure.core.pipeline.policies._utils import get_retry_after

from .. import telemetry

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class ThrottleBudgetPolicy(HTTPPolicy):  # type: ignore[type-arg]
    """Retry throttled and transient answers while the next wait fits in the operation's budget."""

    def __init__(self, budget_s: float = 600.0, *, base_s: float = 0.5, max_wait_s: float = 60.0,
                 max_transient: int = 3, max_unreachable: int = 2, max_resets: int = 5,
                 sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.budget_s, self.base_s, self.max_wait_s = budget_s, base_s, max_wait_s
        self.max_transient, self.max_unreachable, self.max_resets = max_transient, max_unreachable, max_resets
        self._sleep, self._monotonic = sleep, monotonic
        self.retries = 0  # total retries made (for tests and metrics)

    def _wait(self, response: PipelineResponse[Any, Any] | None, attempt: int) -> float:
        after = get_retry_after(response) if response is not None else None
        return after if after is not None else min(self.max_wait_s, self.base_s * (2 ** attempt))

    def send(self, request: PipelineRequest[Any]) -> PipelineResponse[Any, Any]:
        deadline = self._monotonic() + self.budget_s
        attempt = transient = unreachable = resets = 0
        while True:
            try:
                response = self.next.send(request)
            except (ServiceRequestError, ServiceResponseError) as exc:
                wait = min(self._wait(None, attempt), 2.0)
                if _is_reset(exc):  # the host is there, the connection broke: a new one usually works
                    resets += 1
                    over = resets > self.max_resets
                else:  # refused, not resolved, no connection or no answer in time: fail in seconds
                    unreachable += 1
                    over = unreachable > self.max_unreachable
                if over or self._monotonic() + wait > deadline:
                    raise
            else:
                status = response.http_response.status_code
                if status not in RETRY_STATUSES:
                    return response
                throttled = status == 429 or (status == 503 and get_retry_after(response) is not None)
                if status == 429:
                    telemetry.count("throttled", {"dataops.service": "arm"})
                wait = self._wait(response, attempt)
                transient += 0 if throttled else 1
                if transient > self.max_transient or self._monotonic() + wait > deadline:
                    return response
            self.retries += 1
            telemetry.count("retries", {"dataops.service": "arm"})
            attempt += 1
            self._sleep(wait)


def _is_reset(exc: BaseException) -> bool:
    """A connection reset or dropped mid-request (not a refusal, a failed lookup or a timeout)."""
    from azure.core.exceptions import ServiceRequestTimeoutError, ServiceResponseTimeoutError

    if isinstance(exc, ServiceRequestTimeoutError | ServiceResponseTimeoutError):
        return False
    if isinstance(exc, ServiceResponseError):
        return True
    text = str(exc).lower()
    return "connection reset" in text or "connection aborted" in text or "remotedisconnected" in text
