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
    """DORA's 2024 definitions (the default) rated by the 2024 table; docs/metrics.md's worked example."""
    r = dora_report(ledger, ENV, NOW, 30).to_json()
    assert r["benchmark"] == "DORA 2024" and r["definitions"] == "dora"
    assert r["window"]["start"] == "2026-01-30T00:00:00+00:00" and r["window"]["days"] == 30
    # D1 D2 D3 D4 D5 D6 D7 D9 are counted; D8 was superseded; D0 is before the window.
    assert r["deployments"] == 8
    # Successful (status succeeded): D1 D3 D4 D6 D7 D9 = 6, ending on Feb 1, 2, 3, 4, 5, 6 = 6 deployment days.
    # The window's dates are Jan 30..Feb 28; whole weeks back from Feb 28: Feb 22-28, 15-21, 8-14, 1-7 hold
    # 0, 0, 0, 6 days -> median (0 + 0) / 2 = 0 (< 1: not weekly); one 30-day month holds 6 (>= 1): medium.
    # (The raw mean, 6 / 30 = 0.2 a day, rated "high" before.)
    assert r["deployment_frequency"] == {
        "successful": 6, "per_day": 0.2, "per_week": pytest.approx(1.4), "deployment_days": 6, "weeks": 4,
        "months": 1, "median_days_per_week": 0.0, "median_days_per_month": 6.0, "tier": "medium",
        "definition": "dora", "benchmark": "DORA 2024"}
    # c1 9000 s, c2 5400, c3 12600, c4 5400, c5 15300, c7 86400, c8 3600; c0 was deployed by D0 already;
    # c6 only by D5, which was rolled back. Sorted: 3600 5400 5400 [9000] 12600 15300 86400; p90 = rank 7.
    assert r["lead_time"] == {"commits": 7, "median_seconds": 9000.0, "p90_seconds": 86400.0, "tier": "elite",
                              "definition": "dora", "benchmark": "DORA 2024"}
    # failed D2 and D5 (rolled_back); D4 named by I1; D9 attributed by I2 and named (by commit) by Q1:
    # (2 + 2) / 8 = 0.5 > 40% (the 2024 low cluster's value) -> low.
    assert r["change_failure_rate"] == {"value": 0.5, "failed": 2, "caused_incident": 2, "deployments": 8,
                                        "numerator": 4, "tier": "low", "definition": "dora",
                                        "benchmark": "DORA 2024"}
    # D2 (ends 10:20) -> D3 (12:30) 7800 s, D5 (10:30) -> D6 (10:50) 1200 s, I1 (caused by D4) 12:00 -> 14:00
    # 7200 s; median of 1200 7200 7800 = 7200 (< 1 day: high); I2 (attributed to D9) still open.
    assert r["time_to_restore"] == {"median_seconds": 7200.0, "restores": 3, "open": 1, "tier": "high",
                                    "definition": "dora", "benchmark": "DORA 2024"}
    # Rework: the rollback D6 and D3 (fixes the failed D2) are unplanned; D5, the deployment D6 undid, was
    # planned: it counts as a change failure, not as rework. No deployment followed I1/I2/Q1 while open.
    # (1 + 1) / 8 = 0.25.
    assert r["rework_rate"] == {"value": 0.25, "rollbacks": 1, "fixes": 1, "hotfixes": 0, "deployments": 8,
                                "tier": None, "definition": "dora", "benchmark": None}
    assert r["data_quality"] == {"issues": 1, "open": 0, "per_week": pytest.approx(7 / 30),
                                 "definition": "dataops", "benchmark": None}
    assert "by_developer" not in r and set(r["sources"]) == {"dora", "dataops"}


def test_four_keys_definitions_on_the_same_history(ledger: AuditLedger, history: dict[str, str]) -> None:
    r = dora_report(ledger, ENV, NOW, 30, definitions="fourkeys").to_json()
    assert r["definitions"] == "fourkeys" and "fourkeys" in r["sources"]
    # Four Keys' deployments are the successful deploy events: D1 D3 D4 D5 (rolled back later) D6 D7 D9 = 7,
    # on 6 days (Feb 1-6). Weeks 0 0 0 6: median 0 days (< 3, not daily), weeks with a deployment 0 0 0 1:
    # median 0 (< 1, not weekly); the month has 6 deployment days (>= 1): monthly = medium.
    df = r["deployment_frequency"]
    assert (df["successful"], df["deployment_days"], df["tier"], df["definition"]) == (7, 6, "medium", "fourkeys")
    # Successful deployments linked to an incident: D4 (I1) and D9 (I2, Q1) -> 2 / 7; D2 failed and is not a
    # deployment to Four Keys. 0.2857 > 20% (high) and <= 40%: low.
    cfr = r["change_failure_rate"]
    assert cfr == {"value": pytest.approx(2 / 7), "failed": 2, "caused_incident": 2, "deployments": 7,
                   "numerator": 2, "tier": "low", "definition": "fourkeys", "benchmark": "DORA 2024"}
    # Incidents only, from the earlier of the causing deployment and the opening: I1 from D4's end (10:15)
    # to 14:00 = 13500 s (< 1 day: high); I2 open. Failed deployments are not restores in Four Keys.
    assert r["time_to_restore"] == {"median_seconds": 13500.0, "restores": 1, "open": 1, "tier": "high",
                                    "definition": "fourkeys", "benchmark": "DORA 2024"}
    # No sample is under a minute, so lead time is the same 7 samples; Four Keys has no rework rate: DORA's.
    assert r["lead_time"]["median_seconds"] == 9000.0 and r["lead_time"]["definition"] == "fourkeys"
    assert r["rework_rate"]["value"] == 0.25 and r["rework_rate"]["definition"] == "dora"


def test_keys_per_developer(ledger: AuditLedger, history: dict[str, str]) -> None:
    # Every commit of the history is written by the one who pushed it, so author and pusher agree here.
    for group_by in ("author", "pusher"):
        body = dora_report(ledger, ENV, NOW, 30, by_developer=True, group_by=group_by).to_json()
        assert body["group_by"] == group_by
        devs = body["by_developer"]
        assert sorted(devs) == ["alice", "bob", "carol"]
        alice, bob, carol = devs["alice"], devs["bob"], devs["carol"]
        assert alice["deployments"] == 3 and alice["deployment_frequency"]["successful"] == 3
        assert alice["lead_time"]["median_seconds"] == 7200.0  # 3600 5400 | 9000 86400 -> (5400 + 9000) / 2
        assert alice["change_failure_rate"]["value"] == pytest.approx(1 / 3)  # D9 caused I2 and Q1
        assert alice["time_to_restore"] == {"median_seconds": None, "restores": 0, "open": 1, "tier": None,
                                            "definition": "dora", "benchmark": "DORA 2024"}
        assert alice["data_quality"]["issues"] == 1
        assert bob["lead_time"]["median_seconds"] == 9000.0  # 5400 12600
        assert bob["change_failure_rate"]["value"] == 0.5  # D2 of D2 D3
        assert bob["time_to_restore"]["median_seconds"] == 7800.0
        assert bob["rework_rate"]["value"] == 0.5  # D3 fixes D2
        assert carol["lead_time"]["commits"] == 1 and carol["lead_time"]["median_seconds"] == 15300.0
        assert carol["change_failure_rate"]["value"] == pytest.approx(2 / 3)  # D4 caused I1, D5 rolled back
        assert carol["time_to_restore"]["median_seconds"] == 4200.0  # 1200 7200
        assert carol["rework_rate"]["value"] == pytest.approx(1 / 3)  # the rollback D6 of D4 D5 D6


def test_a_shorter_window_leaves_out_what_came_before_it(ledger: AuditLedger, history: dict[str, str]) -> None:
    # Window 2026-02-24..03-01 sees nothing: everything happened in early February.
    r = dora_report(ledger, ENV, NOW, 5).to_json()
    assert r["deployments"] == 0 and r["lead_time"]["commits"] == 0 and r["data_quality"]["issues"] == 0


def test_no_deployments(ledger: AuditLedger) -> None:
    r = dora_report(ledger, ENV, NOW, 30).to_json()
    assert r["deployments"] == 0
    df = r["deployment_frequency"]
    assert (df["successful"], df["per_day"], df["deployment_days"], df["tier"]) == (0, 0.0, 0, "low")
    assert r["lead_time"]["commits"] == 0 and r["lead_time"]["median_seconds"] is None
    assert r["lead_time"]["tier"] is None and r["lead_time"]["p90_seconds"] is None
    assert r["change_failure_rate"]["value"] is None and r["change_failure_rate"]["tier"] is None
    assert (r["time_to_restore"]["median_seconds"], r["time_to_restore"]["restores"]) == (None, 0)
    assert r["time_to_restore"]["tier"] is None and r["rework_rate"]["value"] is None


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
    ttr = r["time_to_restore"]
    assert (ttr["median_seconds"], ttr["restores"], ttr["open"], ttr["tier"]) == (None, 0, 1, None)
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


def test_the_2023_and_2024_tier_tables() -> None:
    day = 86400.0
    # Lead time: both reports: < 1 day elite, < 1 week high, < 1 month medium; 2024's low is 1-6 months.
    for year in (2023, 2024):
        assert [lead_time_tier(s, year) for s in (day - 1, day, 7 * day - 1, 7 * day, 30 * day - 1, 30 * day,
                                                  400 * day)] == \
            ["elite", "high", "high", "medium", "medium", "low", "low"]
    # Change failure rate 2023: clusters at 5%, 10%, 15%, 64% -> <= 5 elite, <= 10 high, <= 15 medium, else low.
    assert [failure_rate_tier(r, 2023) for r in (0.0, 0.05, 0.06, 0.10, 0.12, 0.15, 0.16, 1.0)] == \
        ["elite", "elite", "high", "high", "medium", "medium", "low", "low"]
    # 2024: elite 5%, high 20%, medium 10%, low 40%: the smallest published value a rate does not exceed.
    assert [failure_rate_tier(r, 2024) for r in (0.05, 0.08, 0.10, 0.15, 0.20, 0.25, 0.40, 0.9)] == \
        ["elite", "medium", "medium", "high", "high", "low", "low", "low"]
    # Recovery 2023: < 1 hour, < 1 day, 1 day-1 week, (1 week-1 month is in no range) -> low.
    assert [restore_tier(s, 2023) for s in (3599, 3600, day - 1, day, 7 * day - 1, 7 * day)] == \
        ["elite", "high", "high", "medium", "medium", "low"]
    # 2024 gives high and medium the same "less than one day": a day or more is low (1 week-1 month).
    assert [restore_tier(s, 2024) for s in (3599, 3600, day - 1, day, 7 * day - 1, 40 * day)] == \
        ["elite", "high", "high", "low", "low", "low"]
    assert lead_time_tier(None) is None and failure_rate_tier(None) is None and restore_tier(None) is None


@pytest.mark.parametrize(("week", "month", "weeks_deployed", "dora", "fourkeys"), [
    (7, 30, 1, "elite", "elite"), (5, 21, 1, "high", "elite"), (3, 12, 1, "high", "elite"),
    (2, 8, 1, "high", "high"), (1, 4, 1, "high", "high"), (0.5, 2, 0.5, "medium", "medium"),
    (0, 1, 0, "medium", "medium"), (0, 0, 0, "low", "low"),
])
def test_frequency_tiers_from_deployment_days(week: float, month: float, weeks_deployed: float, dora: str,
                                              fourkeys: str) -> None:
    assert frequency_tier(week, month, weeks_deployed, "dora") == dora
    assert frequency_tier(week, month, weeks_deployed, "fourkeys") == fourkeys


def test_p90_is_nearest_rank() -> None:
    assert p90(list(range(1, 11))) == 9.0  # rank ceil(9.0) = 9
    assert p90([5.0]) == 5.0 and p90([]) is None
    assert p90(list(range(1, 12))) == 10.0  # rank ceil(9.9) = 10
