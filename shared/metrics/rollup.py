"""A compact per-environment, per-UTC-day rollup of what the DORA keys need from the deployments table.

Reading a year of deployment entities through azure-data-tables costs seconds, most of it the
SDK's per-property decoding. The rollup keeps, next to the ledger in the state table, one row per
environment and UTC day (PartitionKey ``rollup-<env>``, RowKey ``YYYY-MM-DD``) holding every
deployment *created* that day (by the time its id carries, the same time the ledger's RowKeys
order by) as a compressed list of entries: id, status, trigger, actor, queued/ended times, head
commit and time, carried commits (id and timestamp) and ``rollback_of``. Entries are keyed by
deployment id, so writing the same deployment twice never double-counts.

A row is in one of two states:

* ``complete``: rebuilt from the ledger, then kept current by :func:`record_deployment` (an
  after-end hook, and the rollback hook when it marks a deployment ``rolled_back``);
* ``dirty``: a deployment of that day changed while the day had no complete row; the day is read
  through the rebuild again. A hook that finds no row writes this marker, and a rebuild only
  replaces the exact row state it read before reading the ledger (ETag or insert-if-absent), so a
  change that lands during a rebuild is never lost.

Readers use the rollup only for days that ended at least :data:`SETTLE` before ``now``; the
newer part is read raw from the ledger. Entries that were not final when rolled up (a stuck or
long deployment whose hook has not run) are re-read from the ledger by a point read.
"""

from __future__ import annotations

import base64
import json
import logging
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from ..audit import AuditLedger, CommitInfo, DeploymentRecord, keys
from ..audit.ledger import _odata_str
from ..audit.records import FINAL_STATUSES
from ..storage import StorageAccount
from ..storage_writes import create_entity, update_entity
from .dora import carried_commits

log = logging.getLogger(__name__)

PARTITION_PREFIX = "rollup-"
# Properties the rebuild reads from the ledger (iter_deployments adds id, environment, component, commit).
FIELDS = ["actor", "trigger", "status", "queued_at", "ended_at", "commit_time", "commits", "commits_blob",
          "rollback_of", "commit_range"]
# A day is read from the rollup only once it ended this long ago: deployments whose id carries a time
# just before midnight may still be inserted a little after it.
SETTLE = timedelta(hours=1)
CHUNK = 30_000  # chars per string property (Table storage: 64 KiB per property)
MAX_CHUNKS = 30  # 30 x 30,000 UTF-16 chars stays under the 1 MiB entity limit
_RETRIES = 20


def partition(environment: str) -> str:
    return PARTITION_PREFIX + environment


_EPOCH = date(1970, 1, 1)
_DAY_MS = 86_400_000


def row_key(deployment_id: str) -> str:
    """The ledger RowKey of a deployment (the rollup filters and orders by it exactly as the ledger does)."""
    return keys.DeploymentKey(deployment_id).row


def day_of_row(row: str) -> date:
    """The UTC day of a ledger RowKey, in integer milliseconds (no float rounding at midnight)."""
    return _EPOCH + timedelta(days=(keys.MAX_MS - int(row[:15])) // _DAY_MS)


def day_of(deployment_id: str) -> date:
    """The UTC day a deployment belongs to: the creation time its id (and ledger RowKey) carries."""
    return day_of_row(row_key(deployment_id))


def day_range(first: date, last: date) -> tuple[datetime, datetime]:
    """``since``/``until`` for ``ledger.iter_deployments`` reading exactly the RowKeys of days ``[first, last]``.

    ``until`` is half a millisecond before the next midnight, so the ledger's float-to-millisecond
    conversion lands on the day's last millisecond without rounding either way.
    """
    start = datetime.combine(first, time.min, UTC)
    return start, datetime.combine(last + timedelta(days=1), time.min, UTC) - timedelta(microseconds=500)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


# ----------------------------------------------------------------- entries
# An entry: [row, id, component, status, trigger, actor, queued_at, ended_at, commit, commit_time,
#            [[commit id, timestamp, author, author e-mail], ...], rollback_of]; times are the ledger's
# ISO strings. Rows written before the commits carried their authors (no ``v`` = VERSION) are rebuilt.
ID, STATUS = 1, 3
VERSION = 2


def entry_of(rec: DeploymentRecord) -> list[Any]:
    """The compact form of one deployment: only what the keys and the dashboard read."""
    commits = [[c.id, _iso(c.timestamp), c.author, c.author_email] for c in carried_commits(rec)]
    return [row_key(rec.id), rec.id, rec.component, rec.status, rec.trigger, rec.actor, _iso(rec.queued_at),
            _iso(rec.ended_at), rec.commit, _iso(rec.commit_time), commits, rec.rollback_of]


def record_of(environment: str, e: list[Any]) -> DeploymentRecord:
    """The deployment record an entry stands for (the same values a ``select``-ed ledger read gives)."""
    _, dep_id, component, status, trigger, actor, queued, ended, commit, commit_time, commits, rollback_of = e
    return DeploymentRecord(
        id=dep_id, environment=environment, component=component, commit=commit,
        actor=actor, trigger=trigger, status=status, queued_at=_dt(queued), ended_at=_dt(ended),
        commit_time=_dt(commit_time), commits=[_commit(*c) for c in commits],
        rollback_of=rollback_of)


def _commit(sha: str, timestamp: str | None, author: str | None = None, email: str | None = None) -> CommitInfo:
    return CommitInfo(sha, _dt(timestamp), author, author_email=email)


def _encode(entries: dict[str, list[Any]]) -> dict[str, str] | None:
    """Entries -> chunked properties ``d0..dN`` (zlib + base64); None when the day is too big for a row."""
    raw = json.dumps(sorted(entries.values()), separators=(",", ":")).encode()
    text = base64.b64encode(zlib.compress(raw, 6)).decode()
    chunks = [text[i:i + CHUNK] for i in range(0, len(text), CHUNK)] or [""]
    if len(chunks) > MAX_CHUNKS:
        return None
    return {f"d{i}": c for i, c in enumerate(chunks)}


def _decode(entity: dict[str, Any]) -> dict[str, list[Any]]:
    n = int(entity.get("chunks", 0))
    text = "".join(entity[f"d{i}"] for i in range(n))
    if not text:
        return {}
    return {e[ID]: e for e in json.loads(zlib.decompress(base64.b64decode(text)))}


@dataclass
class DayRow:
    """One day of one environment as stored: ``entries`` is None when the day must be read raw."""

    day: date
    state: str  # complete | dirty | oversize
    entries: dict[str, list[Any]] | None = None
    etag: str | None = None


def _row(day: date) -> str:
    return day.isoformat()


# ---------------------------------------------------------------- the store
@dataclass
class Rollup:
    """The rollup rows of the app's storage account; ``ledger`` is where rebuilds read from."""

    ledger: AuditLedger
    stats: dict[str, int] = field(default_factory=lambda: {"rebuilt_days": 0, "refreshed": 0})

    @property
    def storage(self) -> StorageAccount:
        return self.ledger.storage

    @property
    def _table(self) -> Any:
        return self.storage.table(self.storage.names.state_table)

    def _entity(self, environment: str, day: date, state: str,
                entries: dict[str, list[Any]] | None) -> dict[str, Any]:
        entity: dict[str, Any] = {"PartitionKey": partition(environment), "RowKey": _row(day), "state": state,
                                  "chunks": 0, "count": 0, "v": VERSION}
        if state == "complete" and entries is not None:
            props = _encode(entries)
            if props is None:
                entity["state"] = "oversize"  # read raw: still exact, only slower
            else:
                entity.update(props, chunks=len(props), count=len(entries))
        return entity

    def _day_row(self, e: Any) -> DayRow:
        day = date.fromisoformat(e["RowKey"])
        state = str(e.get("state")) if e.get("v") == VERSION else "dirty"  # an older entry format: rebuild
        entries = _decode(e) if state == "complete" else None
        return DayRow(day, state, entries, e.metadata.get("etag"))

    def rows(self, environment: str, first: date, last: date) -> dict[date, DayRow]:
        """The stored rows of ``[first, last]`` (one RowKey range of the environment's rollup partition)."""
        flt = (f"PartitionKey eq {_odata_str(partition(environment))} and RowKey ge {_odata_str(_row(first))}"
               f" and RowKey le {_odata_str(_row(last))}")
        return {r.day: r for r in map(self._day_row, self._table.query_entities(flt, results_per_page=1000))}

    def _get(self, environment: str, day: date) -> DayRow | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self._day_row(self._table.get_entity(partition(environment), _row(day)))
        except ResourceNotFoundError:
            return None

    def _write(self, environment: str, day: date, seen: DayRow | None, state: str,
               entries: dict[str, list[Any]] | None) -> bool:
        """Write the row only if it is still as ``seen`` (absent: insert; present: same ETag)."""
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError

        entity = self._entity(environment, day, state, entries)
        try:
            if seen is None:
                create_entity(self._table, entity)
            else:
                update_entity(self._table, entity, etag=seen.etag)
            return True
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
            return False

    # ---------------------------------------------------------------- writes
    def record(self, rec: DeploymentRecord) -> None:
        """Put one deployment's current state into its day's row (ETag-guarded read-modify-write).

        Keyed by deployment id: a retried or repeated call leaves the same row. A day without a
        complete row gets a ``dirty`` marker so a rebuild running at the same time cannot miss it.
        """
        day = day_of(rec.id)
        for _ in range(_RETRIES):
            row = self._get(rec.environment, day)
            if row is None:
                if self._write(rec.environment, day, None, "dirty", None):
                    return
            elif row.state != "complete" or row.entries is None:
                return  # dirty or oversize: that day is rebuilt or read raw anyway
            else:
                entry = entry_of(rec)
                if row.entries.get(rec.id) == entry:
                    return
                if self._write(rec.environment, day, row, "complete", {**row.entries, rec.id: entry}):
                    return
        raise RuntimeError(f"rollup row {rec.environment}/{day} is being changed concurrently")

    def rebuild(self, environment: str, since: date, until: date) -> dict[date, DayRow]:
        """Rebuild the days ``[since, until]`` from the ledger (one partition range); returns the rows.

        The rows' states are read before the ledger and written only if unchanged since, so a
        deployment recorded meanwhile makes that day rebuild again instead of being lost.
        """
        if until < since:
            return {}
        before = self.rows(environment, since, until)
        start, end = day_range(since, until)
        by_day: dict[date, dict[str, list[Any]]] = {}
        for rec in self.ledger.iter_deployments(environment, since=start, until=end, select=FIELDS):
            e = entry_of(rec)
            by_day.setdefault(day_of_row(e[0]), {})[rec.id] = e
        out: dict[date, DayRow] = {}
        day = since
        while day <= until:
            entries = by_day.get(day, {})
            if self._write(environment, day, before.get(day), "complete", entries):
                out[day] = DayRow(day, "complete", entries)
            else:
                out[day] = self._rebuild_day(environment, day)
            self.stats["rebuilt_days"] += 1
            day += timedelta(days=1)
        return out

    def _rebuild_day(self, environment: str, day: date) -> DayRow:
        start, end = day_range(day, day)
        entries: dict[str, list[Any]] = {}
        for _ in range(_RETRIES):
            seen = self._get(environment, day)
            entries = {r.id: entry_of(r) for r in self.ledger.iter_deployments(environment, since=start, until=end,
                                                                                select=FIELDS)}
            if self._write(environment, day, seen, "complete", entries):
                return DayRow(day, "complete", entries)
        # Still contended: answer from what was just read; the next reader rebuilds again.
        return DayRow(day, "dirty", entries)

    # ----------------------------------------------------------------- reads
    def entries(self, environment: str, first: date, last: date) -> Iterator[tuple[str, DeploymentRecord]]:
        """(ledger RowKey, record) of every deployment created on the days ``[first, last]``, unordered.

        Days without a usable row are rebuilt from the ledger first (oversize days are read raw).
        Entries that were not final when rolled up are re-read from the ledger, and recorded again
        once final (their after-end hook may not have run: a crashed worker).
        """
        if last < first:
            return
        rows = self.rows(environment, first, last)
        missing: list[date] = []
        day = first
        while day <= last:
            row = rows.get(day)
            if row is None or row.state == "dirty":
                missing.append(day)
            day += timedelta(days=1)
        for a, b in _spans(missing):
            rows.update(self.rebuild(environment, a, b))
        for day in sorted(rows):
            got = rows[day].entries
            if got is None:  # oversize: read this day raw
                since, until = day_range(day, day)
                for rec in self.ledger.iter_deployments(environment, since=since, until=until, select=FIELDS):
                    yield row_key(rec.id), rec
                continue
            for e in got.values():
                yield e[0], (record_of(environment, e) if e[STATUS] in FINAL_STATUSES
                             else self._refresh(environment, e))

    def _refresh(self, environment: str, e: list[Any]) -> DeploymentRecord:
        from ..errors import NotFound

        try:
            rec = self.ledger.get_deployment(e[ID], with_plan=False)
        except NotFound:
            return record_of(environment, e)
        self.stats["refreshed"] += 1
        if rec.final:
            self.record(rec)
        return record_of(environment, entry_of(rec))


def _spans(days: list[date]) -> Iterator[tuple[date, date]]:
    """Consecutive runs of sorted days as (first, last)."""
    start: date | None = None
    prev: date | None = None
    for d in days:
        if start is None or prev is None or d != prev + timedelta(days=1):
            if start is not None and prev is not None:
                yield start, prev
            start = d
        prev = d
    if start is not None and prev is not None:
        yield start, prev


def record_deployment(ledger: AuditLedger, rec: DeploymentRecord) -> None:
    """Record one deployment's current state in the rollup; never fails the caller (logs instead)."""
    try:
        Rollup(ledger).record(rec)
    except Exception:  # the release flow must go on; a dirty or stale day is healed by a rebuild
        log.exception("could not record deployment %s in the metrics rollup", rec.id)


def rollup_hook(ledger: AuditLedger) -> Callable[[DeploymentRecord], None]:
    """After-end hook: keep the ended deployment's day row current."""

    def hook(rec: DeploymentRecord) -> None:
        record_deployment(ledger, rec)

    return hook


def cutoff(now: datetime) -> date:
    """The first day read raw from the ledger: the days before it are settled and read from the rollup."""
    return (now - SETTLE).astimezone(UTC).date()
