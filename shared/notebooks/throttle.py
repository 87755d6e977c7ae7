"""Adaptive request pacing for the Workspace API: honour 429/Retry-After, retry 5xx, grow again.

The workspace allows about 30 imports/s and answers 429 beyond. A fixed
concurrency either wastes the limit or causes a 429 storm, so we pace like
TCP does: an additive-increase / multiplicative-decrease *rate*, learnt from
the 429s, under a concurrency cap (``max_parallel``):

* on a 429 the rate drops to 90% of what actually succeeded during the last
  second (at most once per Retry-After window: a burst of 429s is one signal),
  and the throttled request waits its ``Retry-After`` before going again;
* every second without a 429 the rate grows by 5% (at least 1/s);
* 5xx and connection errors are retried with exponential backoff and jitter,
  up to ``max_attempts`` (a host that does not answer at all, up to
  ``max_unreachable_attempts``: 1 + ``timeouts.unreachable_retries``); 429s are not counted: a request honours ``Retry-After``
  for as long as its time budget lasts (``throttle_budget_s``, elapsed time since it
  was first sent, default 10 minutes), so a stuck workspace cannot stall a deployment
  forever and a long storm does not fail it after a fixed number of tries.

Time and randomness are passed in (``monotonic``, ``sleep``, ``rng``).
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from .. import telemetry

T = TypeVar("T")


class WorkspaceCallError(Exception):
    """A failed Workspace API call, classified for the retry policy."""

    def __init__(self, message: str, *, status: int | None = None, code: str = "",
                 retry_after: float | None = None, unreachable: bool = False) -> None:
        super().__init__(message)
        self.status, self.code, self.retry_after = status, code, retry_after
        # no answer at all: connection refused, name not resolved, connect or read timed out, reset
        self.unreachable = unreachable
        self.cause: BaseException | None = None  # the client library's error (for the message)

    @property
    def throttled(self) -> bool:
        return self.status == 429

    @property
    def transient(self) -> bool:
        return self.status is None or self.status >= 500 or self.status == 408

    @property
    def not_found(self) -> bool:
        return self.status == 404 or self.code == "RESOURCE_DOES_NOT_EXIST"


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6  # for 5xx / connection errors
    base_backoff_s: float = 0.2
    max_backoff_s: float = 8.0
    # 429s are not counted: one request keeps honouring Retry-After until this much time has passed
    # since it was first sent (databricks.throttle_budget_s, default 10 minutes)
    throttle_budget_s: float = 600.0
    default_retry_after_s: float = 1.0
    # a host that does not answer at all gets this many attempts (1 + timeouts.unreachable_retries), so
    # it fails in seconds (each attempt is bounded by the connect/read timeouts), not after max_attempts
    max_unreachable_attempts: int = 3


class AdaptivePacer:
    """Concurrency cap plus an AIMD request rate learnt from 429s. Thread-safe."""

    def __init__(self, max_parallel: int, *, policy: RetryPolicy | None = None,
                 monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None) -> None:
        self.max_parallel = max(1, max_parallel)
        self.policy = policy or RetryPolicy()
        self._now, self._sleep = monotonic, sleep
        self._rng = rng or random.Random(0)
        self._cond = threading.Condition()
        self._in_flight = 0
        self.rate: float | None = None  # requests/s; None until the first 429
        self._next_slot = 0.0
        self._reduced_until = 0.0
        self._last_growth = 0.0
        self._done: deque[float] = deque()
        self.throttles = 0
        self.retries = 0

    def sibling(self) -> AdaptivePacer:
        """A pacer with the same settings and its own learnt rate (for another API endpoint)."""
        return AdaptivePacer(self.max_parallel, policy=self.policy, monotonic=self._now, sleep=self._sleep,
                             rng=self._rng)

    # -- pacing -----------------------------------------------------------------
    def _acquire(self) -> None:
        with self._cond:
            while self._in_flight >= self.max_parallel:
                self._cond.wait()
            self._in_flight += 1
            wait = 0.0
            if self.rate is not None:
                now = self._now()
                self._grow(now)
                slot = max(now, self._next_slot)
                self._next_slot = slot + 1.0 / self.rate
                wait = slot - now
        if wait > 0:
            self._sleep(wait)

    def _release(self, ok: bool) -> None:
        with self._cond:
            self._in_flight -= 1
            if ok:
                now = self._now()
                self._done.append(now)
                while self._done and self._done[0] < now - 1.0:
                    self._done.popleft()
            self._cond.notify()

    def _grow(self, now: float) -> None:
        if self.rate is not None and now >= self._reduced_until and now - self._last_growth >= 1.0:
            self.rate += max(1.0, self.rate * 0.05)
            self._last_growth = now

    def _on_throttle(self, retry_after: float) -> None:
        with self._cond:
            self.throttles += 1
            now = self._now()
            if now < self._reduced_until:
                return  # same congestion episode: reduce once
            while self._done and self._done[0] < now - 1.0:
                self._done.popleft()
            achieved = float(len(self._done))
            current = self.rate if self.rate is not None else max(achieved, 1.0)
            self.rate = max(1.0, min(current, achieved) * 0.9) if achieved else max(1.0, current / 2)
            self._reduced_until = now + retry_after
            self._last_growth = now + retry_after
            self._next_slot = max(self._next_slot, now)

    # -- calls --------------------------------------------------------------------
    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` (one Workspace API request) within the pace, retrying 429 and 5xx."""
        attempts, started, waited = 0, self._now(), 0.0
        while True:
            self._acquire()
            try:
                result = fn()
            except WorkspaceCallError as exc:
                self._release(False)
                if exc.throttled:
                    telemetry.count("throttled", {"dataops.service": "databricks.workspace"})
                    wait = exc.retry_after if exc.retry_after is not None else self.policy.default_retry_after_s
                    self._on_throttle(wait)
                    # elapsed time, or the time slept when the sleep is not the clock's (tests)
                    spent = max(self._now() - started, waited)
                    if spent + wait > self.policy.throttle_budget_s:
                        raise  # waiting again would end past the budget: give up now, not later
                    waited += wait
                    self._sleep(wait)
                    continue
                attempts += 1
                limit = self.policy.max_unreachable_attempts if exc.unreachable else self.policy.max_attempts
                if not exc.transient or attempts >= limit:
                    raise
                with self._cond:
                    self.retries += 1
                telemetry.count("retries", {"dataops.service": "databricks.workspace"})
                backoff = min(self.policy.max_backoff_s, self.policy.base_backoff_s * 2 ** (attempts - 1))
                self._sleep(backoff * (0.5 + self._rng.random() / 2))
                continue
            except BaseException:
                self._release(False)
                raise
            self._release(True)
            return result
