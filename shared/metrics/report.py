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
from .incidents import Incident, IncidentBook
from .rollup import Rollup, cutoff

# The properties the keys need: reading only these halves the cost of a long window.
FIELDS = ["actor", "trigger", "status", "queued_at", "ended_at", "commit_time", "commits", "commits_blob",
          "commit_range"]  # commit_range: a first deployment counts only its head (dora.carried_commits)
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


class CachedReader:
    """A :data:`Reader` that reads each part of the partition once and answers later reads of it from
    memory, with the same records in the same order (RowKey order, ledger millisecond bounds).

    What it holds is one range of milliseconds; a read outside it reads only what is missing.
    """

    def __init__(self, read: Reader) -> None:
        self._read = read
        self._span: tuple[int, int] | None = None  # [first, last] millisecond held
        self._rows: list[tuple[str, int, DeploymentRecord]] = []  # (RowKey, ms, record) in RowKey order
        self.reads = 0

    def _fetch(self, first: int, last: int) -> None:
        self.reads += 1
        for rec in self._read(_at_ms(first), _at_ms(last)):
            key = keys.DeploymentKey(rec.id)
            self._rows.append((key.row, keys.to_ms(key.created), rec))

    def __call__(self, since: datetime, until: datetime) -> list[DeploymentRecord]:
        lo, hi = keys.to_ms(since), keys.to_ms(until)
        if hi < lo:
            return []
        if self._span is None:
            self._fetch(lo, hi)
            self._span = (lo, hi)
        else:
            first, last = self._span
            if hi > last:
                self._fetch(last + 1, hi)
            if lo < first:
                self._fetch(lo, first - 1)
            self._span = (min(first, lo), max(last, hi))
        self._rows.sort(key=lambda r: r[0])
        return [rec for _, ms, rec in self._rows if lo <= ms <= hi]


def _at_ms(ms: int) -> datetime:
    """A time the ledger's millisecond conversion (``keys.to_ms``) takes to exactly ``ms``."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms, microseconds=500)


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


def report_inputs(ledger: AuditLedger, environment: str, window: Window, read: Reader, *,
                  include_branch_syncs: bool = False) -> tuple[list[DeploymentRecord], list[Incident]]:
    """What the keys of ``window`` are computed from: :func:`history_for` (without branch workspace
    syncs unless asked for) and the incidents opened in the window."""
    deployments = history_for(ledger, environment, window, read)
    if not include_branch_syncs:  # branch workspace syncs are not deployments of the product
        deployments = [d for d in deployments if d.trigger != "branch"]
    return deployments, IncidentBook(ledger, ledger.clock).list(environment, since=window.start, until=window.end)


def dora_report(ledger: AuditLedger, environment: str, now: datetime, days: int, *,
                by_developer: bool = False, use_rollup: bool = True, definitions: str = "dora",
                benchmark: int = DEFAULT_BENCHMARK, group_by: str = "author", resolve: Resolve | None = None,
                include_branch_syncs: bool = False, read: Reader | None = None) -> DoraReport:
    """The DORA report of ``environment`` over the ``days`` before ``now``.

    ``use_rollup=False`` reads every deployment raw from the ledger (the reference the rollup is
    tested and benchmarked against); the keys are the same either way. ``read`` replaces either
    (a :class:`CachedReader` shared by several reports). ``definitions``, ``benchmark``,
    ``group_by`` and ``resolve`` are :func:`~.dora.compute_dora`'s.
    """
    window = Window.last_days(now, days)
    with gc_paused():
        if read is None:
            read = rollup_reader(ledger, environment, now) if use_rollup else raw_reader(ledger, environment)
        deployments, incidents = report_inputs(ledger, environment, window, read,
                                               include_branch_syncs=include_branch_syncs)
        return compute_dora(environment, deployments, incidents, window, by_developer=by_developer,
                            definitions=definitions, benchmark=benchmark, group_by=group_by, resolve=resolve)


@contextmanager
def gc_paused() -> Iterator[None]:
    """A report allocates a few hundred thousand small objects that all live until it returns:
    generational collections over them free nothing and cost a tenth of a long report."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
