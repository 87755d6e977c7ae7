"""DORA keys over a synthetic history stored on Azurite, against hand-computed values."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.audit import AuditLedger
from shared.clock import FakeClock
from shared.metrics.dora import (
    Window,
    failure_rate_tier,
    frequency_tier,
    lead_time_tier,
    p90,
    restore_tier,
)
from shared.metrics.report import dora_report

from .history import ENV, NOW, deploy, sha, t, write_history


@pytest.fixture
def history(ledger: AuditLedger, clock: FakeClock) -> dict[str, str]:
    return write_history(ledger, clock)


def test_every_key_matches_the_hand_computed_values(ledger: AuditLedger, history: dict[str, str]) -> None:
    r = dora_report(ledger, ENV, NOW, 30).to_json()
    assert r["benchmark"] == "DORA 2023"
    assert r["window"]["start"] == "2026-01-30T00:00:00+00:00" and r["window"]["days"] == 30
    # D1 D2 D3 D4 D5 D6 D7 D9 are counted; D8 was superseded; D0 is before the window.
    assert r["deployments"] == 8
    assert r["deployment_frequency"] == {"successful": 6, "per_day": 0.2, "per_week": pytest.approx(1.4),
                                         "tier": "high"}
    # c1 9000 s, c2 5400, c3 12600, c4 5400, c5 15300, c7 86400, c8 3600; c0 was deployed by D0 already.
    assert r["lead_time"] == {"commits": 7, "median_seconds": 9000.0, "p90_seconds": 86400.0, "tier": "elite"}
    # failed D2 and D5 (rolled_back); D4 named by I1; D9 attributed by I2 and named (by commit) by Q1.
    assert r["change_failure_rate"] == {"value": 0.5, "failed": 2, "caused_incident": 2, "deployments": 8,
                                        "tier": "low"}
    # D2 -> D3 7800 s, D5 -> D6 1200 s, I1 7200 s; I2 still open; Q1 is a data-quality issue.
    assert r["time_to_restore"] == {"median_seconds": 7200.0, "restores": 3, "open": 1, "tier": "high"}
    # rollbacks D5 (status) and D6 (trigger); D3 fixes D2.
    assert r["rework_rate"] == {"value": 0.375, "rollbacks": 2, "fixes": 1, "deployments": 8, "tier": None}
    assert r["data_quality"] == {"issues": 1, "open": 0, "per_week": pytest.approx(7 / 30)}
    assert "by_developer" not in r


def test_keys_per_developer(ledger: AuditLedger, history: dict[str, str]) -> None:
    devs = dora_report(ledger, ENV, NOW, 30, by_developer=True).to_json()["by_developer"]
    assert sorted(devs) == ["alice", "bob", "carol"]
    alice, bob, carol = devs["alice"], devs["bob"], devs["carol"]
    assert alice["deployments"] == 3 and alice["deployment_frequency"]["successful"] == 3
    assert alice["lead_time"]["median_seconds"] == 7200.0  # 3600 5400 9000 86400
    assert alice["change_failure_rate"]["value"] == pytest.approx(1 / 3)
    assert alice["time_to_restore"] == {"median_seconds": None, "restores": 0, "open": 1, "tier": None}
    assert alice["data_quality"]["issues"] == 1
    assert bob["lead_time"]["median_seconds"] == 9000.0  # 5400 12600
    assert bob["change_failure_rate"]["value"] == 0.5
    assert bob["time_to_restore"]["median_seconds"] == 7800.0
    assert bob["rework_rate"]["value"] == 0.5
    assert carol["lead_time"] == {"commits": 1, "median_seconds": 15300.0, "p90_seconds": 15300.0, "tier": "elite"}
    assert carol["change_failure_rate"]["value"] == pytest.approx(2 / 3)
    assert carol["time_to_restore"]["median_seconds"] == 4200.0  # 1200 7200
    assert carol["rework_rate"]["value"] == pytest.approx(2 / 3)


def test_a_shorter_window_leaves_out_what_came_before_it(ledger: AuditLedger, history: dict[str, str]) -> None:
    # Window 2026-02-24..03-01 sees nothing: everything happened in early February.
    r = dora_report(ledger, ENV, NOW, 5).to_json()
    assert r["deployments"] == 0 and r["lead_time"]["commits"] == 0 and r["data_quality"]["issues"] == 0


def test_no_deployments(ledger: AuditLedger) -> None:
    r = dora_report(ledger, ENV, NOW, 30).to_json()
    assert r["deployments"] == 0
    assert r["deployment_frequency"] == {"successful": 0, "per_day": 0.0, "per_week": 0.0, "tier": "low"}
    assert r["lead_time"] == {"commits": 0, "median_seconds": None, "p90_seconds": None, "tier": None}
    assert r["change_failure_rate"]["value"] is None and r["change_failure_rate"]["tier"] is None
    assert r["time_to_restore"] == {"median_seconds": None, "restores": 0, "open": 0, "tier": None}
    assert r["rework_rate"]["value"] is None


def test_only_failures(ledger: AuditLedger, clock: FakeClock) -> None:
    for day in (1, 2, 3):
        deploy(ledger, clock, created=t(day, 10), ended=t(day, 10, 5), status="failed", actor="dan",
               commits=[(sha(day), t(day, 9))])
    r = dora_report(ledger, ENV, NOW, 30).to_json()
    assert r["deployments"] == 3
    assert r["deployment_frequency"]["successful"] == 0
    assert r["lead_time"]["commits"] == 0  # nothing reached the environment
    assert r["change_failure_rate"]["value"] == 1.0 and r["change_failure_rate"]["tier"] == "low"
    # One outage that never ended: not a restore, but open.
    assert r["time_to_restore"] == {"median_seconds": None, "restores": 0, "open": 1, "tier": None}
    # The 2nd and 3rd deployments are attempts to fix the failure before them.
    assert r["rework_rate"]["fixes"] == 2 and r["rework_rate"]["value"] == pytest.approx(2 / 3)


def test_a_commit_is_counted_once_per_environment(ledger: AuditLedger, clock: FakeClock) -> None:
    # c1 goes to dev, then (promoted) to prod, then is redeployed to prod with c2.
    deploy(ledger, clock, env="dev", created=t(1, 10), ended=t(1, 11), status="succeeded", actor="a",
           commits=[(sha(1), t(1, 9))])
    deploy(ledger, clock, created=t(1, 12), ended=t(1, 13), status="succeeded", actor="a",
           commits=[(sha(1), t(1, 9))], trigger="promotion")
    deploy(ledger, clock, created=t(2, 12), ended=t(2, 13), status="succeeded", actor="a",
           commits=[(sha(1), t(1, 9)), (sha(2), t(2, 9))])
    dev = dora_report(ledger, "dev", NOW, 30).to_json()["lead_time"]
    prod = dora_report(ledger, ENV, NOW, 30).to_json()["lead_time"]
    assert dev["commits"] == 1 and dev["median_seconds"] == 7200.0
    # prod: c1 9:00 -> 13:00 on day 1 (4 h), c2 9:00 -> 13:00 on day 2 (4 h); c1 not again.
    assert prod["commits"] == 2 and prod["median_seconds"] == 14400.0


def test_a_commit_deployed_before_the_window_is_not_counted_inside_it(ledger: AuditLedger, clock: FakeClock) -> None:
    # Deployed on Jan 10 (outside a 30-day window); redeployed Feb 10 with a new commit.
    old = t(10, 9, month=1)
    deploy(ledger, clock, created=t(10, 10, month=1), ended=t(10, 11, month=1), status="succeeded", actor="a",
           commits=[(sha(1), old)])
    deploy(ledger, clock, created=t(10, 10), ended=t(10, 11), status="succeeded", actor="a",
           commits=[(sha(1), old), (sha(2), t(10, 10))])
    lead = dora_report(ledger, ENV, NOW, 30).to_json()["lead_time"]
    assert lead["commits"] == 1 and lead["median_seconds"] == 3600.0


def test_the_deployment_before_the_window_decides_a_fix(ledger: AuditLedger, clock: FakeClock) -> None:
    deploy(ledger, clock, created=t(29, 10, month=1), ended=t(29, 11, month=1), status="failed", actor="a",
           commits=[(sha(1), t(29, 9, month=1))])
    deploy(ledger, clock, created=t(1, 10), ended=t(1, 11), status="succeeded", actor="a",
           commits=[(sha(2), t(1, 9))])
    r = dora_report(ledger, ENV, NOW, 30).to_json()
    assert r["rework_rate"]["fixes"] == 1 and r["deployments"] == 1
    # The failure began before the window: its restoration belongs to the earlier period.
    assert r["time_to_restore"]["restores"] == 0


def test_window_from_days() -> None:
    w = Window.last_days(NOW, 7)
    assert w.start == NOW - timedelta(days=7) and w.days == 7
    assert NOW in w and (NOW + timedelta(seconds=1)) not in w


@pytest.mark.parametrize(("per_day", "tier"), [(3, "elite"), (1, "elite"), (0.5, "high"), (1 / 7, "high"),
                                               (0.1, "medium"), (1 / 30, "medium"), (0.01, "low"), (0, "low")])
def test_frequency_tiers(per_day: float, tier: str) -> None:
    assert frequency_tier(per_day) == tier


def test_other_tier_boundaries() -> None:
    day = 86400.0
    assert [lead_time_tier(s) for s in (day - 1, day, 7 * day - 1, 7 * day, 30 * day - 1, 30 * day)] == \
        ["elite", "high", "high", "medium", "medium", "low"]
    assert [failure_rate_tier(r) for r in (0.0, 0.05, 0.06, 0.10, 0.15, 0.16, 1.0)] == \
        ["elite", "elite", "high", "high", "medium", "low", "low"]
    assert [restore_tier(s) for s in (3599, 3600, day - 1, day, 7 * day - 1, 7 * day)] == \
        ["elite", "high", "high", "medium", "medium", "low"]


def test_p90_is_nearest_rank() -> None:
    assert p90(list(range(1, 11))) == 9.0  # rank ceil(9.0) = 9
    assert p90([5.0]) == 5.0 and p90([]) is None
    assert p90(list(range(1, 12))) == 10.0  # rank ceil(9.9) = 10
