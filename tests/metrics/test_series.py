"""The dashboard's sparklines in one pass (``collect_series``) give exactly what one ``compute_dora`` per
bucket gives (``key_series_per_bucket``, the way they were computed before), on random histories made
to hit the edges: deployments running across bucket boundaries (one created before midnight that ends
after one created after it, with the same commit), deployments created exactly at a boundary, long
failure episodes, rollbacks, incidents with and without a cause, hotfixes, and both definitions."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from shared.audit import CommitInfo, DeploymentRecord
from shared.metrics.dashboard import buckets, key_series, key_series_per_bucket
from shared.metrics.dora import Window, collect_facts, collect_series, created_at
from shared.metrics.incidents import Incident

NOW = datetime(2026, 3, 1, 12, 5, tzinfo=UTC)
STATUSES = ["succeeded"] * 6 + ["failed", "failed", "rolled_back", "superseded", "running"]


def history(seed: int, days: int, n: int) -> tuple[list[DeploymentRecord], list[Incident]]:
    rng = random.Random(seed)
    start = NOW - timedelta(days=days + 10)
    commits = [CommitInfo(f"{i:040x}", start + timedelta(hours=rng.uniform(0, (days + 10) * 24)),
                          f"dev{rng.randrange(4)}", author_email=f"dev{rng.randrange(4)}@example.com")
               for i in range(n)]
    recs = []
    for i in range(n):
        if rng.random() < 0.15:  # exactly at a UTC midnight: inside two buckets
            created = datetime.combine((start + timedelta(days=rng.randrange(days + 10))).date(),
                                       datetime.min.time(), UTC)
        else:
            created = start + timedelta(seconds=rng.uniform(0, (days + 10) * 86400))
        # Some run for hours: they end after deployments created later (across a boundary).
        ended = created + timedelta(minutes=rng.choice([1, 5, 30, 300, 2000]))
        carried = rng.sample(commits, rng.randint(1, 3))
        recs.append(DeploymentRecord(
            id=f"{created:%Y%m%dT%H%M%S}{created.microsecond // 1000:03d}Z-prod-{rng.choice(['adf', 'notebooks'])}-"
               f"{i:08x}", environment="prod", component=rng.choice(["adf", "notebooks"]), commit=carried[-1].id,
            status=rng.choice(STATUSES), trigger="rollback" if rng.random() < 0.05 else "push",
            actor=f"pusher{rng.randrange(3)}", queued_at=created, ended_at=ended, commits=carried))
    incidents = []
    for i in range(n // 8):
        opened = start + timedelta(seconds=rng.uniform(0, (days + 10) * 86400))
        resolved = opened + timedelta(hours=rng.uniform(0.1, 100)) if rng.random() < 0.8 else None
        incidents.append(Incident(id=f"i{i}", environment="prod", kind=rng.choice(["incident", "data_quality"]),
                                  title="t", opened_at=opened, status="resolved" if resolved else "open",
                                  resolved_at=resolved,
                                  deployment_id=rng.choice(recs).id if rng.random() < 0.7 else None))
    return recs, incidents


@pytest.mark.parametrize("definitions", ["dora", "fourkeys"])
@pytest.mark.parametrize(("seed", "days", "n"), [(1, 7, 60), (2, 30, 400), (3, 90, 600), (4, 365, 900)])
def test_one_pass_gives_the_facts_of_one_walk_per_bucket(seed: int, days: int, n: int, definitions: str) -> None:
    recs, incidents = history(seed, days, n)
    window = Window.last_days(NOW, days)
    windows = buckets(window).windows(window)
    fast = collect_series(recs, incidents, windows, definitions=definitions, group_by="author")
    for w, facts in zip(windows, fast, strict=True):
        upto = [d for d in recs if created_at(d) <= w.end]
        assert facts == collect_facts(upto, incidents, w, definitions=definitions, group_by="author"), w


@pytest.mark.parametrize("definitions", ["dora", "fourkeys"])
def test_key_series_is_the_per_bucket_series(definitions: str) -> None:
    recs, incidents = history(5, 30, 500)
    window = Window.last_days(NOW, 30)
    grid = buckets(window)
    fast = key_series("prod", recs, incidents, window, grid, definitions=definitions, benchmark=2023)
    assert fast == key_series_per_bucket("prod", recs, incidents, window, grid, definitions=definitions,
                                         benchmark=2023)
    assert any(v is not None for v in fast["lead_time"]) and any(v for v in fast["change_failure_rate"])


def test_windows_out_of_order_are_refused() -> None:
    window = Window.last_days(NOW, 3)
    with pytest.raises(ValueError, match="time order"):
        collect_series([], [], list(reversed(buckets(window).windows(window))))
