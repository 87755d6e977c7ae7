"""The per-day rollup gives exactly the DORA keys the raw ledger gives, and stays current."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from shared.audit import AuditLedger, CommitInfo, DeploymentRecord
from shared.clock import FakeClock
from shared.metrics import rollup as rollup_mod
from shared.metrics.incidents import IncidentBook
from shared.metrics.report import dora_report
from shared.metrics.rollup import Rollup, day_of, partition, rollup_hook
from shared.release.rollback import mark_rolled_back_hook

from .history import ENV, NOW, sha

STATUSES = ["succeeded"] * 6 + ["failed", "failed", "rolled_back", "superseded", "rejected", "running"]


def _put(ledger: AuditLedger, created: datetime, *, status: str, component: str, commits: list[CommitInfo],
         actor: str | None, trigger: str = "push", env: str = ENV, seed: str = "") -> DeploymentRecord:
    ended = created + timedelta(minutes=7, microseconds=123) if status not in ("running", "queued") else None
    rec = DeploymentRecord(
        id=ledger.new_deployment_id(env, component, seed or created.isoformat(), when=created), environment=env,
        component=component, commit=commits[-1].id, actor=actor, trigger=trigger, status=status,
        queued_at=created, ended_at=ended, commit_time=commits[-1].timestamp, commits=commits,
        rollback_of=None)
    ledger.create_deployment(rec)
    return rec


def synthetic_history(ledger: AuditLedger, clock: FakeClock, seed: int = 7) -> list[DeploymentRecord]:
    """~200 deployments over 60 days up to NOW (two components, every status, commits deployed twice,
    ids on midnight and last-millisecond edges, one deployment still running), plus incidents."""
    rng = random.Random(seed)
    recs: list[DeploymentRecord] = []
    pool = [sha(n) for n in range(40)]
    stamps: dict[str, datetime] = {}
    for n in range(200):
        created = NOW - timedelta(seconds=rng.uniform(0, 60 * 86400))
        if n % 25 == 0:  # a day's first and last millisecond
            base = created.replace(hour=0, minute=0, second=0, microsecond=0)
            created = base if n % 50 == 0 else base + timedelta(days=1) - timedelta(microseconds=700)
        ids = rng.sample(pool, rng.randint(1, 3))
        # Authors by e-mail (one per two commits), so per-author keys are compared both ways too.
        commits = [CommitInfo(c, stamps.setdefault(c, created - timedelta(hours=rng.uniform(0.5, 400))), "x",
                              author_email=f"dev{pool.index(c) // 2}@contoso.com") for c in ids]
        status = rng.choice(STATUSES)
        trigger = "rollback" if rng.random() < 0.1 else "push"
        actor = rng.choice(["alice", "bob", "carol", None])
        recs.append(_put(ledger, created, status=status, component=rng.choice(["adf", "notebooks"]),
                         commits=commits, actor=actor, trigger=trigger, seed=f"s{n}"))
    # Another environment's deployments never leak in.
    _put(ledger, NOW - timedelta(days=3), status="failed", component="adf", env="dev",
         commits=[CommitInfo(sha(99), NOW - timedelta(days=4))], actor="alice")
    book = IncidentBook(ledger, clock, attribution_days=7)
    for n in range(6):
        opened = NOW - timedelta(days=rng.uniform(0, 50))
        kind = "data_quality" if n % 3 == 0 else "incident"
        cause = recs[rng.randrange(len(recs))].id if n % 2 else None
        inc, _ = book.open(ENV, kind, f"issue {n}", caused_by=cause, opened_at=opened)
        if n % 4 != 1:
            book.resolve(inc.id, resolved_at=opened + timedelta(hours=rng.uniform(1, 30)))
    return recs


def assert_same(ledger: AuditLedger, now: datetime, days: int, variants: bool = False) -> dict[str, Any]:
    """Every key (and per developer), the facts and the deployment list, both ways."""
    raw = dora_report(ledger, ENV, now, days, by_developer=True, use_rollup=False)
    rolled = dora_report(ledger, ENV, now, days, by_developer=True, use_rollup=True)
    assert rolled.to_json() == raw.to_json()
    assert rolled.facts == raw.facts
    for variant in ({"group_by": "pusher"}, {"definitions": "fourkeys", "benchmark": 2023}) if variants else ():
        assert dora_report(ledger, ENV, now, days, by_developer=True, **variant).to_json() == \
            dora_report(ledger, ENV, now, days, by_developer=True, use_rollup=False, **variant).to_json()
    assert [(d.id, d.status, d.ended_at) for d in rolled.deployments] == \
           [(d.id, d.status, d.ended_at) for d in raw.deployments]
    return raw.to_json()


@pytest.fixture
def history(ledger: AuditLedger, clock: FakeClock) -> list[DeploymentRecord]:
    return synthetic_history(ledger, clock)


def _rows(ledger: AuditLedger) -> list[Any]:
    table = ledger.storage.table(ledger.storage.names.state_table)
    return list(table.query_entities(f"PartitionKey eq '{partition(ENV)}'"))


def test_every_metric_is_the_same_from_the_rollup_as_from_the_raw_ledger(
        ledger: AuditLedger, history: list[DeploymentRecord]) -> None:
    for now, days in [(NOW, 30), (NOW, 7), (NOW, 60), (NOW - timedelta(minutes=30), 30),
                      (NOW + timedelta(days=3, hours=5), 45), (NOW - timedelta(days=20, hours=13), 10)]:
        keys = assert_same(ledger, now, days, variants=days == 30)
        assert keys["deployments"] > 0
    assert keys["lead_time"]["commits"] > 0 and keys["change_failure_rate"]["failed"] > 0
    rows = _rows(ledger)
    assert rows and all(r["state"] == "complete" for r in rows)
    assert sum(r["count"] for r in rows) == len([h for h in history if h.queued_at < NOW + timedelta(days=3)])


def test_a_second_read_uses_the_rows_and_rebuilds_nothing(ledger: AuditLedger,
                                                           history: list[DeploymentRecord]) -> None:
    store = Rollup(ledger)
    first = list(store.entries(ENV, (NOW - timedelta(days=30)).date(), (NOW - timedelta(days=1)).date()))
    assert store.stats["rebuilt_days"] == 30
    again = Rollup(ledger)
    second = list(again.entries(ENV, (NOW - timedelta(days=30)).date(), (NOW - timedelta(days=1)).date()))
    assert again.stats["rebuilt_days"] == 0
    assert sorted(r for r, _ in first) == sorted(r for r, _ in second)


def test_a_rollback_marking_an_earlier_deployment_updates_its_row(ledger: AuditLedger, clock: FakeClock,
                                                                   history: list[DeploymentRecord]) -> None:
    assert_same(ledger, NOW, 30)  # builds the rows
    undone = next(h for h in sorted(history, key=lambda h: h.queued_at, reverse=True)
                  if h.status == "succeeded" and h.queued_at < NOW - timedelta(days=2))
    rollback = _put(ledger, NOW - timedelta(hours=5), status="succeeded", component=undone.component,
                    commits=[CommitInfo(sha(1), NOW - timedelta(days=9))], actor="bob", trigger="rollback")
    rollback.rollback_of = undone.id
    mark_rolled_back_hook(ledger)(rollback)
    assert ledger.get_deployment(undone.id).status == "rolled_back"
    keys = assert_same(ledger, NOW, 30)
    assert any(d.id == undone.id and d.status == "rolled_back"
               for d in dora_report(ledger, ENV, NOW, 30).deployments)
    assert keys["rework_rate"]["rollbacks"] >= 2


def test_a_deployment_ending_after_its_day_was_rolled_up(ledger: AuditLedger,
                                                         history: list[DeploymentRecord]) -> None:
    running = [h for h in history if h.status == "running" and h.queued_at < NOW - timedelta(days=2)]
    assert len(running) >= 2
    assert_same(ledger, NOW, 60)
    # One ends and its after-end hook runs; the other ends but its worker died before the hooks.
    hooked, crashed = running[0], running[1]
    ended = ledger.transition(hooked.id, "failed", at=hooked.queued_at + timedelta(minutes=3))  # type: ignore[operator]
    rollup_hook(ledger)(ended)
    ledger.transition(crashed.id, "succeeded", at=crashed.queued_at + timedelta(minutes=4))  # type: ignore[operator]
    store = Rollup(ledger)
    stored = store.rows(ENV, day_of(crashed.id), day_of(crashed.id))[day_of(crashed.id)].entries
    assert stored is not None and stored[crashed.id][rollup_mod.STATUS] == "running"
    assert_same(ledger, NOW, 60)
    # The read found it still running in the row, re-read it from the ledger and recorded it.
    stored = store.rows(ENV, day_of(crashed.id), day_of(crashed.id))[day_of(crashed.id)].entries
    assert stored is not None and stored[crashed.id][rollup_mod.STATUS] == "succeeded"
    hooked_day = store.rows(ENV, day_of(hooked.id), day_of(hooked.id))[day_of(hooked.id)].entries
    assert hooked_day is not None and hooked_day[hooked.id][rollup_mod.STATUS] == "failed"


def test_recording_is_idempotent_and_a_day_without_a_row_becomes_dirty(
        ledger: AuditLedger, history: list[DeploymentRecord]) -> None:
    store = Rollup(ledger)
    done = next(h for h in history if h.status == "failed")
    store.record(done)  # no row for its day yet: a dirty marker, not a one-deployment "complete" day
    (row,) = [r for r in _rows(ledger) if r["RowKey"] == day_of(done.id).isoformat()]
    assert row["state"] == "dirty"
    assert_same(ledger, NOW + timedelta(days=1), 61)  # rebuilds the dirty day
    before = {r["RowKey"]: r["count"] for r in _rows(ledger)}
    for _ in range(3):
        store.record(done)
        store.record(ledger.get_deployment(done.id))
    after = {r["RowKey"]: r["count"] for r in _rows(ledger)}
    assert after == before
    assert all(r["state"] == "complete" for r in _rows(ledger))


def test_an_oversize_day_is_read_raw_and_still_exact(ledger: AuditLedger, history: list[DeploymentRecord],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rollup_mod, "MAX_CHUNKS", 0)  # every day is "too big" for a row
    assert_same(ledger, NOW, 30)
    assert {r["state"] for r in _rows(ledger)} == {"oversize"}


def test_no_deployments_at_all(ledger: AuditLedger) -> None:
    keys = assert_same(ledger, NOW, 30)
    assert keys["deployments"] == 0 and keys["lead_time"]["median_seconds"] is None


def test_every_ending_keeps_the_rollup(ledger: AuditLedger) -> None:
    """finish_deployment (every ending, whatever the hooks) records the day in the rollup."""
    from shared.deploy.lifecycle import Opening, finish_deployment, open_deployment

    assert _rows(ledger) == []
    rec = open_deployment(ledger, None, Opening(environment=ENV, component="adf", commit="e" * 40,
                                                trigger="push", seed="rollup"))
    finish_deployment(ledger, rec, "failed", error="boom")
    assert _rows(ledger)


def test_day_of_uses_the_ledger_row_time() -> None:
    created = datetime(2026, 2, 3, 23, 59, 59, 999_900, tzinfo=UTC)
    dep_id = f"{created:%Y%m%dT%H%M%S}999Z-prod-adf-0123abcd"
    assert day_of(dep_id).isoformat() == "2026-02-03"
    assert day_of("20260204T000000000Z-prod-adf-0123abcd").isoformat() == "2026-02-04"


def test_rows_of_an_older_entry_format_are_rebuilt(ledger: AuditLedger, history: list[DeploymentRecord]) -> None:
    """Rows written before entries carried commit authors (no ``v``) are read as dirty and rebuilt."""
    assert_same(ledger, NOW, 30)
    table = ledger.storage.table(ledger.storage.names.state_table)
    from azure.data.tables import UpdateMode

    old = _rows(ledger)[0]
    entity = {k: v for k, v in old.items() if k != "v"}
    table.update_entity(entity, mode=UpdateMode.REPLACE)
    store = Rollup(ledger)
    day = date.fromisoformat(old["RowKey"])
    assert store.rows(ENV, day, day)[day].state == "dirty"
    list(store.entries(ENV, day, day))
    assert store.stats["rebuilt_days"] == 1 and store.rows(ENV, day, day)[day].state == "complete"
