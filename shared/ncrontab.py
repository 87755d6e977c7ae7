"""NCRONTAB expressions as the Azure Functions timer trigger evaluates them, in an IANA time zone.

Parsing follows the NCrontab library (``CrontabSchedule.Parse``) as the
WebJobs timer extension calls it: five fields (``minute hour day month
day-of-week``, seconds 0) or six (``second minute hour day month
day-of-week``), separated by spaces. In each field:

* ``*``, a value, ``a-b``, a list ``x,y,...``; ``/n`` after ``*``, a range or
  a value steps through it (``5/15`` is ``5-59/15``: a bare start runs to the
  field's maximum, so day-of-week ``1/2`` is Mon, Wed, Fri);
* a reversed range is swapped (``6-0`` is ``0-6``), a step below 1 counts as 1;
* month and day-of-week take names or any prefix of one, in any case
  (``Jan``, ``march``, ``Sunday``, ``M`` = Monday, ``Ju`` = June);
* day-of-week is 0..6 (Sunday 0; ``7`` is refused); day-of-month and
  day-of-week must both match; ``?``, ``L``, ``W`` and ``#`` are refused.

Time zones (WebJobs ``CronSchedule``): the next occurrence is found on the
local wall clock, then placed on the time line:

* a local time in the spring gap is read with the standard offset, so it runs
  shifted forward by the gap (01:30 in London on the spring-forward day runs
  at 02:30 BST);
* a local time in the autumn overlap: *point-in-time* schedules (none of the
  second/minute/hour fields, as NCrontab prints them, has ``*``, ``-`` or
  ``/``) run once, at the first (daylight) occurrence; *interval* schedules
  run through both passes of the repeated hour.

:meth:`NCronTab.next_after` is the host's ``GetNextOccurrence`` step;
:meth:`NCronTab.occurrences` chains it as a timer started at ``after`` would.
"""

from __future__ import annotations

import calendar
import re
from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
                "October", "November", "December")
_DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
# .NET int.Parse(NumberStyles.Integer): optional white space around, an optional sign, ASCII digits.
_WHITE = " \t\n\v\f\r"
_INT32 = re.compile(r"[ \t\n\v\f\r]*[+-]?[0-9]+[ \t\n\v\f\r]*")
_INT32_MAX = 2**31 - 1
_MAX_YEAR = 9999
# the longest each month can be (February 29 in leap years)
_LONGEST = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class CronError(ValueError):
    pass


@dataclass(frozen=True)
class _Kind:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()


_SECOND = _Kind("second", 0, 59)
_MINUTE = _Kind("minute", 0, 59)
_HOUR = _Kind("hour", 0, 23)
_DAY = _Kind("day", 1, 31)
_MONTH = _Kind("month", 1, 12, _MONTH_NAMES)
_WEEKDAY = _Kind("day-of-week", 0, 6, _DAY_NAMES)


def _dotnet_int(text: str, kind: _Kind) -> int:
    if not _INT32.fullmatch(text):
        raise CronError(f"{kind.name} field: {text!r} is not a number")
    value = int(text.strip(_WHITE))
    if not -_INT32_MAX - 1 <= value <= _INT32_MAX:
        raise CronError(f"{kind.name} field: {text!r} is too large")
    return value


def _field_value(text: str, kind: _Kind) -> int:
    if not text:
        raise CronError(f"{kind.name} field: a value cannot be empty")
    if "0" <= text[0] <= "9":
        return _dotnet_int(text, kind)
    if kind.names:
        folded = text.casefold()
        for i, name in enumerate(kind.names):
            if name.casefold().startswith(folded):
                return kind.low + i
        raise CronError(f"{kind.name} field: {text!r} is not a name ({', '.join(kind.names)})")
    raise CronError(f"{kind.name} field: {text!r} is not a number between {kind.low} and {kind.high}")


def _add(values: set[int], kind: _Kind, start: int, end: int, step: int) -> None:
    """Add ``start..end`` every ``step`` (start = end = -1: the whole field) with NCrontab's checks."""
    if start == end:
        if start < 0:
            start, end = kind.low, kind.high
        elif not kind.low <= start <= kind.high:
            raise CronError(f"{kind.name} field: {start} is outside {kind.low}-{kind.high}")
    else:
        start, end = min(start, end), max(start, end)
        if start < kind.low or end > kind.high:
            raise CronError(f"{kind.name} field: {start}-{end} is outside {kind.low}-{kind.high}")
    values.update(range(start, end + 1, max(step, 1)))


def _parse_item(text: str, kind: _Kind, values: set[int]) -> None:
    if not text:
        raise CronError(f"{kind.name} field: empty list item")
    if text.find(",") > 0:
        for part in text.split(","):
            _parse_item(part, kind, values)
        return
    step: int | None = None
    if (slash := text.find("/")) > 0:
        step = _dotnet_int(text[slash + 1:], kind)
        text = text[:slash]
    if text == "*":
        _add(values, kind, -1, -1, step or 1)
    elif (dash := text.find("-")) > 0:
        _add(values, kind, _field_value(text[:dash], kind), _field_value(text[dash + 1:], kind), step or 1)
    else:
        value = _field_value(text, kind)
        if step is None:
            _add(values, kind, value, value, 1)
        else:
            _add(values, kind, value, kind.high, step)


def _parse_field(text: str, kind: _Kind) -> tuple[int, ...]:
    values: set[int] = set()
    _parse_item(text, kind, values)
    return tuple(sorted(values))


def _spans(values: tuple[int, ...], kind: _Kind) -> bool:
    """Whether NCrontab prints the field with ``*`` or ``-`` (all values, or two consecutive ones)."""
    return values == tuple(range(kind.low, kind.high + 1)) or any(b - a == 1 for a, b in pairwise(values))


def _after(values: tuple[int, ...], v: int) -> int | None:
    i = bisect_right(values, v)
    return values[i] if i < len(values) else None


# ---------------------------------------------------------------- time zones
def _offsets(wall: datetime, zone: ZoneInfo) -> tuple[timedelta, timedelta]:
    first = wall.replace(tzinfo=zone, fold=0).utcoffset()
    second = wall.replace(tzinfo=zone, fold=1).utcoffset()
    assert first is not None and second is not None
    return first, second


def is_ambiguous(wall: datetime, zone: ZoneInfo) -> bool:
    """The local wall time happens twice (the clock goes back over it)."""
    first, second = _offsets(wall, zone)
    return first > second


def _standard_offset(wall: datetime, zone: ZoneInfo) -> timedelta:
    """.NET ``GetUtcOffset`` of a local time: an ambiguous or skipped time reads as standard time."""
    first, second = _offsets(wall, zone)
    if first == second:
        return first
    for fold, offset in ((0, first), (1, second)):
        if not wall.replace(tzinfo=zone, fold=fold).dst():
            return offset
    return second if first > second else first


def _place(wall: datetime, zone: ZoneInfo) -> tuple[datetime, timedelta]:
    offset = _standard_offset(wall, zone)
    return (wall - offset).replace(tzinfo=UTC), offset


@dataclass(frozen=True)
class NCronTab:
    expression: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: tuple[int, ...]
    months: tuple[int, ...]
    weekdays: tuple[int, ...]  # 0 = Sunday
    has_seconds: bool
    is_interval: bool  # WebJobs: a '*', '-' or '/' in the printed second/minute/hour fields

    @classmethod
    def parse(cls, expression: str) -> NCronTab:
        tokens = [t for t in str(expression).split(" ") if t]
        if len(tokens) not in (5, 6):
            raise CronError("expected six fields (second minute hour day month day-of-week) or five "
                            f"(minute hour day month day-of-week), got {len(tokens)}")
        has_seconds = len(tokens) == 6
        kinds = (_SECOND, _MINUTE, _HOUR, _DAY, _MONTH, _WEEKDAY)[0 if has_seconds else 1:]
        fields = [_parse_field(t, k) for t, k in zip(tokens, kinds, strict=True)]
        if not has_seconds:
            fields.insert(0, (0,))
        checked = [(fields[1], _MINUTE), (fields[2], _HOUR)] + ([(fields[0], _SECOND)] if has_seconds else [])
        interval = any(_spans(values, kind) for values, kind in checked)
        sec, minute, hour, day, month, weekday = fields
        return cls(expression, sec, minute, hour, day, month, weekday, has_seconds, interval)

    # ---------------------------------------------------------- wall clock
    def _possible(self) -> bool:
        return any(d <= _LONGEST[m - 1] for m in self.months for d in self.days)

    def _matches(self, d: date) -> bool:
        return (d.weekday() + 1) % 7 in self.weekdays

    def _time_after(self, h: int, m: int, s: int) -> tuple[int, int, int] | None:
        """The first time of day matching the fields strictly after h:m:s."""
        if h in self.hours and m in self.minutes and (ns := _after(self.seconds, s)) is not None:
            return h, m, ns
        if h in self.hours and (nm := _after(self.minutes, m)) is not None:
            return h, nm, self.seconds[0]
        if (nh := _after(self.hours, h)) is not None:
            return nh, self.minutes[0], self.seconds[0]
        return None

    def next_local(self, wall: datetime) -> datetime | None:
        """The first matching wall-clock time (naive, whole seconds) strictly after ``wall``."""
        if not self._possible():
            return None
        wall = wall.replace(tzinfo=None, microsecond=0)
        today = wall.date()
        year, month = today.year, today.month
        while year <= _MAX_YEAR:
            if month in self.months:
                last = calendar.monthrange(year, month)[1]
                first_day = today.day if (year, month) == (today.year, today.month) else 1
                for day in self.days:
                    if day < first_day:
                        continue
                    if day > last:
                        break
                    d = date(year, month, day)
                    if not self._matches(d):
                        continue
                    t = (self._time_after(wall.hour, wall.minute, wall.second) if d == today
                         else (self.hours[0], self.minutes[0], self.seconds[0]))
                    if t is not None:
                        return datetime(year, month, day, *t)
            month += 1
            if month > 12:
                year, month = year + 1, 1
        return None

    # ----------------------------------------------------------- time line
    def next_after(self, tz: str | ZoneInfo, after: datetime, horizon_days: int | None = None) -> datetime | None:
        """The host's next occurrence after the instant ``after`` (aware UTC), or None (never / past
        year 9999 / past ``horizon_days``)."""
        zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
        if after.tzinfo is None:
            raise ValueError("after must be timezone-aware")
        local = after.astimezone(zone)
        now_wall = local.replace(tzinfo=None)
        now_offset = local.utcoffset()
        assert now_offset is not None
        wall = self.next_local(now_wall)
        if wall is None:
            return None
        when, _ = _place(wall, zone)
        offset = when.astimezone(zone).utcoffset()  # .NET: the offset at that instant (ToLocalTime)
        assert offset is not None
        now_ambiguous = is_ambiguous(now_wall, zone)
        next_ambiguous = is_ambiguous(when.astimezone(zone).replace(tzinfo=None), zone)
        if now_ambiguous or next_ambiguous:
            if not self.is_interval and next_ambiguous:
                if offset != now_offset:
                    when += offset - now_offset  # back to the first (daylight) pass
                else:
                    # Already in the second pass: that time ran in the first one; take the next non-repeated.
                    following: datetime | None = wall
                    while following is not None and is_ambiguous(following, zone):
                        following = self.next_local(following)
                    if following is None:
                        return None
                    when, _ = _place(following, zone)
            elif self.is_interval and offset != now_offset:
                when += offset - now_offset
        if horizon_days is not None and when > after + timedelta(days=horizon_days):
            return None
        return when

    def occurrences(self, tz: str | ZoneInfo, after: datetime, until: datetime) -> list[datetime]:
        """Every occurrence in ``(after, until]`` as a timer started at ``after`` fires them (aware UTC)."""
        zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
        out: list[datetime] = []
        cursor = after
        while (when := self.next_after(zone, cursor)) is not None and when <= until:
            if when <= cursor:  # cannot happen by the rules above; never loop on it
                raise CronError(f"{self.expression!r}: no progress after {cursor.isoformat()}")
            out.append(when)
            cursor = when
        return out

    def last_before(self, tz: str | ZoneInfo, after: datetime, until: datetime) -> datetime | None:
        """The latest occurrence in ``(after, until]`` (None when there is none)."""
        found = self.occurrences(tz, after, until)
        return found[-1] if found else None


def parse(expression: str) -> NCronTab:
    return NCronTab.parse(expression)


def validate_time_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CronError(f"{name!r} is not an IANA time zone") from exc


def parse_duration(text: str) -> timedelta:
    """``64h``, ``30m``, ``1h30m``, ``2d``, ``45s`` -> timedelta."""
    m = re.fullmatch(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text.strip())
    if not text.strip() or not m or not any(m.groups()):
        raise CronError(f"{text!r} is not a duration like 64h, 30m or 1h30m")
    d, h, mi, s = (int(g) if g else 0 for g in m.groups())
    return timedelta(days=d, hours=h, minutes=mi, seconds=s)
