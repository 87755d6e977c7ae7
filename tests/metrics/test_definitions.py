"""Definition variants and tier tables on small hand-computed histories (Azurite, the real ledger).

Each expected number is worked out by hand in the comments; NOW is 2026-03-01T00:00Z and a 30-day
window covers the dates Jan 30..Feb 28 (whole weeks back from Feb 28: Feb 22-28, 15-21, 8-14, 1-7).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.audit import AuditLedger
from shared.clock import FakeClock
from shared.metrics.incidents import IncidentBook
from shared.metrics.report import dora_report

from .history import ENV, NOW, deploy, sha, t


def test_thirty_deployments_in_five_hours_of_one_day_are_not_elite(ledger: AuditLedger, clock: FakeClock) -> None:
    for n in range(30):  # Feb 10, 10:00 to 14:50, every 10 minutes
        start = t(10, 10) + timedelta(minutes=10 * n)
        deploy(ledger, clock, created=start, ended=start + timedelta(minutes=5), status="succeeded", actor="a",
               commits=[(sha(n), start - timedelta(hours=1))])
    for definitions in ("dora", "fourkeys"):
        df = dora_report(ledger, ENV, NOW, 30, definitions=definitions).to_json()["deployment_frequency"]
        # A mean of 1 a day over 30 days, but on one day only: 1 deployment day; weeks 0 0 1 0 -> median 0; the month has 1.
        assert df["per_day"] == 1.0 and df["deployment_days"] == 1
        assert (df["median_days_per_week"], df["median_days_per_month"]) == (0.0, 1.0)
        assert df["tier"] == "medium", definitions


def test_daily_and_weekday_deployers(ledger: AuditLedger, clock: FakeClock) -> None:
    # Every day Jan 30..Feb 28 in prod; only Monday-Friday in dev (Feb 2, 2026 is a Monday).
    for n in range(30):
        day = t(30, 10, month=1) + timedelta(days=n)
        deploy(ledger, clock, created=day, ended=day + timedelta(minutes=5), status="succeeded", actor="a",
               commits=[(sha(n), day - timedelta(hours=2))])
        if day.weekday() < 5:
            deploy(ledger, clock, env="dev", created=day, ended=day + timedelta(minutes=5), status="succeeded",
                   actor="a", commits=[(sha(n), day - timedelta(hours=2))])
    prod = dora_report(ledger, ENV, NOW, 30).to_json()["deployment_frequency"]
    # 7 deployment days in each of the 4 weeks: median 7 -> on demand (elite) in both definitions.
    assert (prod["median_days_per_week"], prod["tier"]) == (7.0, "elite")
    assert dora_report(ledger, ENV, NOW, 30, definitions="fourkeys").to_json()["deployment_frequency"]["tier"] == \
        "elite"
    # Weekdays: 5 days in each whole week (Feb 22-28 holds Feb 23-27): < 7 so DORA's reading says daily to
    # weekly (high); Four Keys calls >= 3 days a week "daily" (elite).
    dev = dora_report(ledger, "dev", NOW, 30).to_json()["deployment_frequency"]
    assert (dev["median_days_per_week"], dev["tier"]) == (5.0, "high")
    assert dora_report(ledger, "dev", NOW, 30, definitions="fourkeys").to_json()["deployment_frequency"]["tier"] \
        == "elite"


@pytest.fixture
def ten_deployments(ledger: AuditLedger, clock: FakeClock) -> None:
    """Feb 1..8 succeed daily at 10:00-10:10; Feb 9 fails (ends 10:10); Feb 11 succeeds (ends 10:10)."""
    for day in range(1, 12):
        if day == 10:
            continue
        status = "failed" if day == 9 else "succeeded"
        deploy(ledger, clock, created=t(day, 10), ended=t(day, 10, 10), status=status, actor="a",
               commits=[(sha(day), t(day, 9, 10))])


@pytest.mark.usefixtures("ten_deployments")
def test_the_tier_tables_rate_the_same_history_differently(ledger: AuditLedger) -> None:
    r23 = dora_report(ledger, ENV, NOW, 30, benchmark=2023).to_json()
    r24 = dora_report(ledger, ENV, NOW, 30, benchmark=2024).to_json()
    assert (r23["benchmark"], r24["benchmark"]) == ("DORA 2023", "DORA 2024")
    # 1 failed of 10 = 10%: 2023 high (<= 10%); 2024 medium (its medium cluster is 10%, high 20%).
    for r, tier in ((r23, "high"), (r24, "medium")):
        cfr = r["change_failure_rate"]
        assert (cfr["value"], cfr["tier"], cfr["benchmark"]) == (0.1, tier, r["benchmark"])
    # Recovery Feb 9 10:10 -> Feb 11 10:10 = 172800 s (2 days): 2023 medium (1 day-1 week); 2024 low
    # (high and medium are "less than one day", low "one week to one month").
    assert (r23["time_to_restore"]["median_seconds"], r23["time_to_restore"]["tier"]) == (172800.0, "medium")
    assert r24["time_to_restore"]["tier"] == "low"
    # Lead time: every commit 1 h (9:10 -> 10:10): elite in both; the rework is the fix of Feb 11: 1 / 10.
    assert r23["lead_time"]["median_seconds"] == r24["lead_time"]["median_seconds"] == 3600.0
    assert r23["lead_time"]["tier"] == r24["lead_time"]["tier"] == "elite"
    assert r24["rework_rate"]["value"] == 0.1 and r24["rework_rate"]["fixes"] == 1
    # Deployment days Feb 1-8 and 11 (Feb 9 failed): weeks Feb 1-7 = 7, Feb 8-14 = 2 (8, 11), then 0, 0:
    # median (0 + 2) / 2 = 1 -> DORA high (at least weekly); same in both tables.
    for r in (r23, r24):
        df = r["deployment_frequency"]
        assert (df["deployment_days"], df["median_days_per_week"], df["tier"]) == (9, 1.0, "high")


@pytest.mark.usefixtures("ten_deployments")
def test_four_keys_on_the_ten_deployments(ledger: AuditLedger) -> None:
    r = dora_report(ledger, ENV, NOW, 30, definitions="fourkeys", benchmark=2023).to_json()
    # 9 successful deployments, none linked to an incident: 0 / 9 = 0% (elite); the failure is no incident.
    assert r["change_failure_rate"]["value"] == 0.0 and r["change_failure_rate"]["deployments"] == 9
    assert r["change_failure_rate"]["tier"] == "elite"
    # No incidents: no restore samples at all in Four Keys.
    assert r["time_to_restore"]["restores"] == 0 and r["time_to_restore"]["tier"] is None
    # Days per week 7 2 0 0: median 1 (< 3: not daily); weeks deployed 1 1 0 0: median 0.5 (< 1: not weekly);
    # the month has 9 days: monthly = medium.
    assert r["deployment_frequency"]["tier"] == "medium"


def test_hotfixes_and_four_keys_minute_rule(ledger: AuditLedger, clock: FakeClock) -> None:
    d1 = deploy(ledger, clock, created=t(1, 10), ended=t(1, 10, 10), status="succeeded", actor="a",
                commits=[(sha(1), t(1, 9, 10))])
    clock.set(NOW)
    incidents = IncidentBook(ledger, clock, attribution_days=7)
    inc, _ = incidents.open(ENV, "incident", "loads fail", caused_by=d1.id, opened_at=t(1, 11))
    # The first deployment after the incident opened (before it was resolved) is a hotfix; the next is not.
    deploy(ledger, clock, created=t(1, 11, 30), ended=t(1, 11, 40), status="succeeded", actor="a",
           commits=[(sha(2), t(1, 11, 20))])
    deploy(ledger, clock, created=t(1, 13), ended=t(1, 13, 10), status="succeeded", actor="a",
           commits=[(sha(3), t(1, 13, 10) - timedelta(seconds=30))])
    clock.set(NOW)
    incidents.resolve(inc.id, resolved_at=t(1, 12))
    r = dora_report(ledger, ENV, NOW, 30).to_json()
    # 1 hotfix of 3 deployments.
    assert r["rework_rate"]["hotfixes"] == 1 and r["rework_rate"]["value"] == pytest.approx(1 / 3)
    # Lead: 3600, 1200, 30 s: median 1200. Four Keys leaves out the 30 s sample: (1200 + 3600) / 2 = 2400.
    assert r["lead_time"]["commits"] == 3 and r["lead_time"]["median_seconds"] == 1200.0
    fk = dora_report(ledger, ENV, NOW, 30, definitions="fourkeys").to_json()
    assert fk["lead_time"]["commits"] == 2 and fk["lead_time"]["median_seconds"] == 2400.0
    # Recovery: DORA from the opening 11:00 to 12:00 = 3600; Four Keys from the deployment's end 10:10 = 6600.
    assert r["time_to_restore"]["median_seconds"] == 3600.0
    assert fk["time_to_restore"]["median_seconds"] == 6600.0
