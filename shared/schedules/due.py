"""Which scheduled environment actions are due: pure functions of the config and two instants.

Times are evaluated on the wall clock of the environment's own IANA time zone
(Linux Function apps ignore ``WEBSITE_TIME_ZONE``, so nothing here depends on
it); :mod:`shared.ncrontab` handles daylight saving (a time in the spring gap
runs shifted forward, a time in the autumn overlap runs once). A skip date is
a *local* date of the environment's zone.

State, not events: when the timer missed ticks, only the latest occurrence per
environment in the window is acted on, because the latest scheduled action is
the state the environment should be in now, however long ago it was due. A
night-long outage yields one start, not a stop followed by a start; a weekend
outage that missed Friday's stop still stops the environment. The window is
searched backwards from its end (a month first, then doubling), so an outage of
any length costs a few evaluations; occurrences older than the segment holding
the latest one are counted, not listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from .. import ncrontab
from ..config import Schedule

Action = Literal["stop", "start"]
ACTIONS: tuple[Action, ...] = ("stop", "start")


@dataclass(frozen=True, order=True)
class DueAction:
    """One scheduled (environment, action, scheduled time); ``scheduled`` is aware UTC."""

    scheduled: datetime
    environment: str
    action: Action
    time_zone: str = "UTC"

    @property
    def key(self) -> str:
        """The claim key: the same occurrence always has the same key."""
        return f"{self.environment}/{self.action}/{self.scheduled.astimezone(UTC):%Y%m%dT%H%M%SZ}"

    @property
    def local(self) -> datetime:
        return self.scheduled.astimezone(ZoneInfo(self.time_zone))

    def to_json(self) -> dict[str, str]:
        return {"environment": self.environment, "action": self.action,
                "scheduled": self.scheduled.isoformat(), "local": self.local.isoformat(),
                "time_zone": self.time_zone}


@dataclass(frozen=True)
class DueReport:
    """What a window holds: the actions to take, and occurrences superseded or skipped."""

    due: tuple[DueAction, ...]
    superseded: tuple[DueAction, ...]
    skipped: tuple[DueAction, ...]


# The first backward segment of a window; later ones double (a year-long outage: five evaluations).
FIRST_SEGMENT = timedelta(days=31)
# At most this many superseded occurrences are listed per environment (the rest are older).
MAX_LISTED = 50


def occurrences(environment: str, schedule: Schedule, action: Action, after: datetime,
                until: datetime) -> tuple[list[DueAction], list[DueAction]]:
    """Occurrences of ``action`` in ``(after, until]``: (kept, skipped by ``skip_dates``)."""
    expression = schedule.stop if action == "stop" else schedule.start
    if not expression:
        return [], []
    zone = ZoneInfo(schedule.time_zone)
    skip = set(schedule.skip_dates)
    kept: list[DueAction] = []
    skipped: list[DueAction] = []
    for when in ncrontab.parse(expression).occurrences(zone, after, until):
        item = DueAction(when, environment, action, schedule.time_zone)
        (skipped if when.astimezone(zone).date() in skip else kept).append(item)
    return kept, skipped


def latest_due(environment: str, schedule: Schedule, after: datetime, until: datetime
               ) -> tuple[DueAction | None, list[DueAction], list[DueAction]]:
    """The latest kept occurrence of either action in ``(after, until]``, the other occurrences of the
    segment it was found in (superseded), and the skipped ones seen on the way."""
    superseded: list[DueAction] = []
    skipped: list[DueAction] = []
    hi, span = until, FIRST_SEGMENT
    while hi > after:
        lo = max(after, hi - span)
        found: list[DueAction] = []
        for action in ACTIONS:
            kept, skip = occurrences(environment, schedule, action, lo, hi)
            found.extend(kept)
            skipped.extend(skip)
        if found:
            found.sort()
            superseded = found[:-1][-MAX_LISTED:]
            return found[-1], superseded, skipped[-MAX_LISTED:]
        hi, span = lo, span * 2
    return None, superseded, skipped[-MAX_LISTED:]


def due_in_window(schedules: Mapping[str, Schedule | None], after: datetime, until: datetime) -> DueReport:
    """The actions due in ``(after, until]``: at most one per environment, the latest."""
    if after.tzinfo is None or until.tzinfo is None:
        raise ValueError("window bounds must be timezone-aware")
    due: list[DueAction] = []
    superseded: list[DueAction] = []
    skipped: list[DueAction] = []
    for environment, schedule in sorted(schedules.items()):
        if schedule is None:
            continue
        latest, older, skip = latest_due(environment, schedule, after, until)
        skipped.extend(skip)
        if latest is not None:
            due.append(latest)
            superseded.extend(older)
    return DueReport(tuple(sorted(due)), tuple(sorted(superseded)), tuple(sorted(skipped)))


def next_actions(environment: str, schedule: Schedule, after: datetime) -> dict[str, str | None]:
    """The next stop and start after ``after`` (skip dates honoured), as ISO text, for status pages."""
    out: dict[str, str | None] = {}
    zone = ZoneInfo(schedule.time_zone)
    for action in ACTIONS:
        expression = schedule.stop if action == "stop" else schedule.start
        out[action] = None
        if not expression:
            continue
        cron = ncrontab.parse(expression)
        cursor = after
        for _ in range(400):  # bounded: at most a year and a bit of skipped days
            when = cron.next_after(zone, cursor)
            if when is None:
                break
            if when.astimezone(zone).date() not in schedule.skip_dates:
                out[action] = when.isoformat()
                break
            cursor = when
    return out
