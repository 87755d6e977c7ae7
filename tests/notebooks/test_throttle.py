"""AdaptivePacer: Retry-After honoured, rate learnt from 429s, 5xx retried, 4xx not. Fake time."""

from __future__ import annotations

import pytest

from shared.notebooks.throttle import AdaptivePacer, RetryPolicy, WorkspaceCallError


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.now += s


def _failing(errors: list[WorkspaceCallError]) -> tuple[list[int], object]:
    calls = [0]

    def fn() -> str:
        calls[0] += 1
        if errors:
            raise errors.pop(0)
        return "ok"
    return calls, fn


def test_429_waits_retry_after_and_sets_a_rate() -> None:
    t = FakeTime()
    pacer = AdaptivePacer(4, monotonic=t.monotonic, sleep=t.sleep)
    calls, fn = _failing([WorkspaceCallError("slow down", status=429, retry_after=3)])
    assert pacer.call(fn) == "ok"  # type: ignore[arg-type]
    assert calls[0] == 2 and 3 in t.slept
    assert pacer.rate is not None and pacer.throttles == 1


def test_rate_grows_again_after_the_throttle_window() -> None:
    t = FakeTime()
    pacer = AdaptivePacer(4, monotonic=t.monotonic, sleep=t.sleep)
    pacer.call(_failing([WorkspaceCallError("x", status=429, retry_after=1)])[1])  # type: ignore[arg-type]
    low = pacer.rate
    assert low is not None
    for _ in range(5):
        t.now += 1.5
        pacer.call(lambda: None)
    assert pacer.rate is not None and pacer.rate > low


def test_5xx_retried_with_backoff_then_gives_up() -> None:
    t = FakeTime()
    pacer = AdaptivePacer(2, policy=RetryPolicy(max_attempts=3), monotonic=t.monotonic, sleep=t.sleep)
    calls, fn = _failing([WorkspaceCallError("boom", status=503)] * 2)
    assert pacer.call(fn) == "ok"  # type: ignore[arg-type]
    assert calls[0] == 3 and pacer.retries == 2
    calls, fn = _failing([WorkspaceCallError("boom", status=500)] * 5)
    with pytest.raises(WorkspaceCallError):
        pacer.call(fn)  # type: ignore[arg-type]
    assert calls[0] == 3


def test_client_errors_are_not_retried() -> None:
    t = FakeTime()
    pacer = AdaptivePacer(2, monotonic=t.monotonic, sleep=t.sleep)
    calls, fn = _failing([WorkspaceCallError("bad", status=400, code="INVALID_PARAMETER_VALUE")])
    with pytest.raises(WorkspaceCallError):
        pacer.call(fn)  # type: ignore[arg-type]
    assert calls[0] == 1 and t.slept == []


def test_a_429_storm_is_bounded_by_the_throttle_budget() -> None:
    t = FakeTime()
    pacer = AdaptivePacer(2, policy=RetryPolicy(throttle_budget_s=10), monotonic=t.monotonic, sleep=t.sleep)
    calls, fn = _failing([WorkspaceCallError("x", status=429, retry_after=2)] * 100)
    with pytest.raises(WorkspaceCallError):
        pacer.call(fn)  # type: ignore[arg-type]
    assert calls[0] == 6 and sum(s for s in t.slept if s == 2) <= 12


def test_a_long_429_storm_is_waited_out_within_the_default_ten_minutes() -> None:
    # 12 x 429 in a row, each asking for 30 s: 6 minutes of waiting. Not a count: a time budget.
    t = FakeTime()
    pacer = AdaptivePacer(2, monotonic=t.monotonic, sleep=t.sleep)
    calls, fn = _failing([WorkspaceCallError("x", status=429, retry_after=30)] * 12)
    assert pacer.call(fn) == "ok"  # type: ignore[arg-type]
    assert calls[0] == 13 and sum(s for s in t.slept if s == 30) == 360
    assert RetryPolicy().throttle_budget_s == 600


def test_the_throttle_budget_is_elapsed_time_and_never_overshot() -> None:
    t = FakeTime()
    pacer = AdaptivePacer(2, policy=RetryPolicy(throttle_budget_s=100), monotonic=t.monotonic, sleep=t.sleep)
    calls, fn = _failing([WorkspaceCallError("x", status=429, retry_after=30)] * 100)
    with pytest.raises(WorkspaceCallError) as info:
        pacer.call(fn)  # type: ignore[arg-type]
    assert info.value.status == 429
    # 3 Retry-After waits of 30 s fit in 100 s, a 4th would not (pacing between attempts counts too)
    assert sum(s for s in t.slept if s == 30) <= 90 and calls[0] <= 4


def test_the_sdk_hands_its_retries_back_and_the_pacer_has_the_budget(databricks_standin) -> None:
    """The SDK's one retry loop would wait out a refused connection as long as a 429 storm: the product's
    clients get a clock that hands every retry back (shared.databricks.calls), so the SDK's own budget
    bounds only its host-metadata probe; the throttle budget is the pacer's."""
    from shared.config import DatabricksTarget
    from shared.databricks.calls import HandBack
    from shared.databricks.client import workspace_client
    from shared.databricks.compute import WorkspaceCompute

    target = databricks_standin.target("/Shared/x", throttle_budget_s=42)
    client = workspace_client(target, databricks_standin.settings())
    assert client.config.retry_timeout_seconds == 1
    with pytest.raises(HandBack):
        client.config.clock.sleep(1)
    assert WorkspaceCompute.for_target(target, databricks_standin.settings()).pacer.policy.throttle_budget_s == 42
    assert DatabricksTarget(host="http://127.0.0.1:9", target_dir="/Shared/x").throttle_budget_s == 600
