"""Deterministic fault injection and per-route request counters for the local stand-ins.

A :class:`FaultInjector` holds :class:`FaultRule` objects; each rule matches
requests by a regular expression searched in the route name (``"workspace.import"``)
and in ``"METHOD /path"`` (``"POST /api/2.0/workspace/import"``). A matching rule can:

* add latency (``latency_s``, slept in the request's own thread);
* rate-limit with a token bucket (``rate_per_s`` tokens a second, ``burst`` capacity):
  an empty bucket answers 429 with ``Retry-After`` (whole seconds, at least 1);
* fail a fraction of requests (``error_rate``) with a status drawn from
  ``error_statuses`` (500/503), deterministically from ``seed``;
* fail the requests a predicate selects (``fail_when``: a given object or deployment),
  with ``fail_status``;
* stop injecting after ``max_faults`` faults (e.g. "the first two imports get 503");
* status ``0`` (in ``error_statuses`` or as ``fail_status``) is a **connection reset**: the server
  reads the request and closes the TCP connection with RST without answering (what a client sees
  when a load balancer or a pooled keep-alive connection drops mid-request); the request is not
  carried out. Status ``-1`` is the harder case: the request **is** carried out, then the connection
  is reset instead of answering (the answer was lost: a retry must be idempotent).

Tests and benchmarks configure it at run time (``server.faults.add(...)``,
``.clear()``) and read :class:`RequestCounters` (``server.counters.count("workspace.import")``).
Everything is thread-safe; the stand-in servers handle each connection in its own thread.
"""

from __future__ import annotations

import json
import math
import random
import re
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Fault", "FaultInjector", "FaultRule", "RequestCounters", "RequestInfo"]


@dataclass(frozen=True)
class RequestInfo:
    """What a fault rule (and its predicate) can see of a request."""

    method: str
    path: str
    route: str
    query: Mapping[str, list[str]] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def target(self) -> str:
        """``"METHOD /path"``, the string rule patterns are also searched in."""
        return f"{self.method} {self.path}"

    def json(self) -> Any:
        """The body parsed as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None

    def param(self, name: str) -> str | None:
        """A query parameter, else a top-level JSON body field (as text), else None."""
        if self.query.get(name):
            return self.query[name][0]
        body = self.json()
        if isinstance(body, dict) and name in body:
            value = body[name]
            return value if isinstance(value, str) else json.dumps(value)
        return None


@dataclass(frozen=True)
class Fault:
    """An injected failure: the server renders it in its own error shape."""

    status: int
    code: str
    message: str
    retry_after_s: int | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)} if self.retry_after_s is not None else {}


class _TokenBucket:
    """A token bucket refilled continuously from a monotonic clock (caller holds the lock)."""

    def __init__(self, rate_per_s: float, burst: float, now: float) -> None:
        self.rate = rate_per_s
        self.capacity = max(1.0, burst)
        self.tokens = self.capacity
        self.stamp = now

    def take(self, now: float) -> float:
        """0.0 when a token was taken, else the seconds until one is available."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


@dataclass
class FaultRule:
    """One fault configuration for the routes ``pattern`` matches (see the module docstring)."""

    pattern: str
    latency_s: float = 0.0
    rate_per_s: float | None = None
    burst: float | None = None
    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (503,)
    fail_when: Callable[[RequestInfo], bool] | None = None
    fail_status: int = 500
    max_faults: int | None = None
    seed: int = 0
    faults_injected: int = 0
    _regex: re.Pattern[str] = field(init=False, repr=False)
    _rng: random.Random = field(init=False, repr=False)
    _bucket: _TokenBucket | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        if self.error_rate < 0 or self.error_rate > 1:
            raise ValueError("error_rate must be between 0 and 1")
        if self.rate_per_s is not None and self.rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        self._regex = re.compile(self.pattern)
        # A per-rule generator seeded from the injector seed and the pattern: the n-th
        # request a rule sees always gets the same decision, whatever other rules do.
        self._rng = random.Random(self.seed ^ zlib.crc32(self.pattern.encode()))

    def matches(self, request: RequestInfo) -> bool:
        return bool(self._regex.search(request.route) or self._regex.search(request.target))

    def _exhausted(self) -> bool:
        return self.max_faults is not None and self.faults_injected >= self.max_faults

    def decide(self, request: RequestInfo, now: float) -> Fault | None:
        """The fault for this request, if any (caller holds the injector lock)."""
        if self._exhausted():
            return None
        fault: Fault | None = None
        if self.rate_per_s is not None:
            if self._bucket is None:
                self._bucket = _TokenBucket(self.rate_per_s, self.burst or self.rate_per_s, now)
            wait = self._bucket.take(now)
            if wait > 0:
                fault = Fault(429, "REQUEST_LIMIT_EXCEEDED",
                              f"Rate limit exceeded for {request.route}; retry later",
                              retry_after_s=max(1, math.ceil(wait)))
        if fault is None and self.error_rate > 0:
            # Always draw, so the sequence of decisions depends only on the request count.
            draw = self._rng.random()
            status = self.error_statuses[self._rng.randrange(len(self.error_statuses))]
            if draw < self.error_rate:
                fault = _server_error(status)
        if fault is None and self.fail_when is not None and self.fail_when(request):
            fault = _server_error(self.fail_status)
        if fault is not None:
            self.faults_injected += 1
        return fault


RESET = 0  # the fault status of a connection reset before the request is carried out
RESET_AFTER = -1  # ... after it is carried out (see the module docstring)


def _server_error(status: int) -> Fault:
    if status in (RESET, RESET_AFTER):
        return Fault(status, "CONNECTION_RESET", "connection reset by the server")
    if status == 503:
        return Fault(503, "TEMPORARILY_UNAVAILABLE", "The service is temporarily unavailable")
    if status == 429:
        return Fault(429, "REQUEST_LIMIT_EXCEEDED", "Too many requests", retry_after_s=1)
    if status >= 500:
        return Fault(status, "INTERNAL_ERROR", "Injected internal error")
    return Fault(status, "INJECTED_FAULT", "Injected failure")


class RequestCounters:
    """Thread-safe request counts per route name and per (route, status)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_route: Counter[str] = Counter()
        self._by_status: Counter[tuple[str, int]] = Counter()

    def record(self, route: str, status: int) -> None:
        """Count one answered request (called by the server after it responded)."""
        with self._lock:
            self._by_route[route] += 1
            self._by_status[(route, status)] += 1

    def count(self, route: str | None = None, status: int | None = None) -> int:
        """Requests to ``route`` (all routes when None), optionally only those answered ``status``."""
        with self._lock:
            if status is None:
                return sum(n for r, n in self._by_route.items() if route is None or r == route)
            return sum(n for (r, s), n in self._by_status.items()
                       if s == status and (route is None or r == route))

    def snapshot(self) -> dict[str, int]:
        """A copy of the per-route counts."""
        with self._lock:
            return dict(self._by_route)

    def by_status(self) -> dict[tuple[str, int], int]:
        """A copy of the per-(route, status) counts."""
        with self._lock:
            return dict(self._by_status)

    def reset(self) -> None:
        with self._lock:
            self._by_route.clear()
            self._by_status.clear()


class FaultInjector:
    """The fault rules of one stand-in server.

    ``clock`` and ``sleep`` are injectable so unit tests can drive the token bucket
    and latency without real time; ``seed`` makes error-rate decisions reproducible.
    """

    def __init__(self, seed: int = 0, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.seed = seed
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []

    def add(self, pattern: str = ".*", *, latency_s: float = 0.0, rate_per_s: float | None = None,
            burst: float | None = None, error_rate: float = 0.0,
            error_statuses: Iterable[int] = (503,),
            fail_when: Callable[[RequestInfo], bool] | None = None, fail_status: int = 500,
            max_faults: int | None = None) -> FaultRule:
        """Add a rule for routes matching ``pattern`` and return it (to ``remove`` it later)."""
        rule = FaultRule(pattern, latency_s=latency_s, rate_per_s=rate_per_s, burst=burst,
                         error_rate=error_rate, error_statuses=tuple(error_statuses),
                         fail_when=fail_when, fail_status=fail_status, max_faults=max_faults,
                         seed=self.seed)
        with self._lock:
            self._rules.append(rule)
        return rule

    def remove(self, rule: FaultRule) -> None:
        with self._lock:
            self._rules = [r for r in self._rules if r is not rule]

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules = []

    @property
    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def apply(self, request: RequestInfo) -> Fault | None:
        """Sleep the matching rules' latency, then return the first fault they inject, if any."""
        with self._lock:
            rules = [r for r in self._rules if r.matches(request)]
        latency = sum(r.latency_s for r in rules)
        if latency > 0:
            # Slept outside the lock so concurrent requests are delayed in parallel.
            self._sleep(latency)
        with self._lock:
            now = self._clock()
            for rule in rules:
                fault = rule.decide(request, now)
                if fault is not None:
                    return fault
        return None
