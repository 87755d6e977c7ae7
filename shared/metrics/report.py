"""Read what the DORA keys need from the ledger (partition ranges only) and compute them.

Settled days come from the per-day rollup (:mod:`.rollup`), the newest part raw from the ledger;
either way the deployments handed to :func:`~.dora.compute_dora` are exactly those (and in the
order) the raw ledger ranges give, so the keys are the same.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta

from ..audit import AuditLedger, DeploymentRecord, keys
from .dora import (
    COUNTED,
    DEFAULT_BENCHMARK,
    DoraReport,
    Resolve,
    Window,
    carried_commits,
    compute_dora,
    created_at,
)
from .incidents import IncidentBook
from .rollup import Rollup, cutoff

# The properties the keys need: reading only these halves the cost of a long window.
FIELDS = ["actor", "trigger", "status", "queued_at", "ended_at", "commit_time", "commits", "commits_blob"]
# Deployments just before the window decide whether the first one inside it is a fix.
MIN_LOOKBACK = timedelta(days=7)


Reader = Callable[[datetime, datetime], Iterable[DeploymentRecord]]


def raw_reader(ledger: AuditLedger, environment: str) -> Reader:
    """Deployments created in ``[since, until]``, newest first: one RowKey range of the ledger."""
    return lambda since, until: ledger.iter_deployments(environment, since=since, until=until, select=FIELDS)


def rollup_reader(ledger: AuditLedger, environment: str, now: datetime, rollup: Rollup | None = None) -> Reader:
    """The same answer as :func:`raw_reader`, with the days before :func:`~.rollup.cutoff` read from the rollup.

    Rolled-up entries are kept to the raw range's exact RowKey bounds and ordered by RowKey, so
    ties and millisecond edges come out as the ledger's query gives them.
    """
    store = rollup or Rollup(ledger)
    first_raw: date = cutoff(now)
    raw_from = datetime.combine(first_raw, time.min, UTC)

    def read(since: datetime, until: datetime) -> list[DeploymentRecord]:
        out: list[DeploymentRecord] = []
        if until >= raw_from:
            out.extend(ledger.iter_deployments(environment, since=max(since, raw_from), until=until,
                                               select=FIELDS))
        last = min(until.astimezone(UTC).date(), first_raw - timedelta(days=1))
        hi, lo = keys.inverted(until), keys.inverted(since) + "~"  # the ledger's RowKey bounds
        older = [(row, rec) for row, rec in store.entries(environment, since.astimezone(UTC).date(), last)
                 if hi <= row < lo]
        older.sort(key=lambda t: t[0])
        out.extend(rec for _, rec in older)
        return out

    return read


def history_for(ledger: AuditLedger, environment: str, window: Window,
                read: Reader | None = None) -> list[DeploymentRecord]:
    """The window's deployments plus the earlier ones that may already have carried their commits.

    A commit can only have been deployed after its own timestamp, so reading back to the oldest
    commit timestamp of a successful deployment in the window is exact. Both reads are RowKey
    ranges of the environment's partition (or the rollup of the same days).
    """
    read = read or raw_reader(ledger, environment)
    inside = list(read(window.start, window.end))
    oldest = window.start - MIN_LOOKBACK
    for d in inside:
        if d.status in COUNTED:
            for c in carried_commits(d):
                if c.timestamp is not None and c.timestamp < oldest:
                    oldest = c.timestamp
    # until is inclusive to the millisecond: step one back so nothing is read twice.
    before = read(oldest, window.start - timedelta(milliseconds=1))
    seen = {d.id for d in inside}
    return inside + [d for d in before if d.id not in seen and created_at(d) < window.start]


def dora_report(ledger: AuditLedger, environment: str, now: datetime, days: int, *,
                by_developer: bool = False, use_rollup: bool = True, definitions: str = "dora",
                benchmark: int = DEFAULT_BENCHMARK, group_by: str = "author", resolve: Resolve | None = None,
                include_branch_syncs: bool = False) -> DoraReport:
    """The DORA report of ``environment`` over the ``days`` before ``now``.

    ``use_rollup=False`` reads every deployment raw from the ledger (the reference the rollup is
    tested and benchmarked against); the keys are the same either way. ``definitions``,
    ``benchmark``, ``group_by`` and ``resolve`` are :func:`~.dora.compute_dora`'s.
    """
    window = Window.last_days(now, days)
    with _gc_paused():
        read = rollup_reader(ledger, environment, now) if use_rollup else raw_reader(ledger, environment)
        deployments = history_for(ledger, environment, window, read)
        if not include_branch_syncs:  # branch workspace syncs are not deployments of the product
            deployments = [d for d in deployments if d.trigger != "branch"]
        incidents = IncidentBook(ledger, ledger.clock).list(environment, since=window.start, until=window.end)
        return compute_dora(environment, deployments, incidents, window, by_developer=by_developer,
                            definitions=definitions, benchmark=benchmark, group_by=group_by, resolve=resolve)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """A report allocates a few hundred thousand small objects that all live until it returns:
    generational collections over them free nothing and cost a tenth of a long report."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
