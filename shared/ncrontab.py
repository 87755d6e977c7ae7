"""NCRONTAB expressions (six fields, seconds first) evaluated in an IANA time zone.

``second minute hour day month day-of-week``, as Azure Functions timer triggers
use them. Evaluation is done on the wall clock of the given time zone, so
"0 0 19 * * 1-5" in Europe/London is 19:00 local all year round.

Daylight saving: a wall-clock time that does not exist (the spring gap) runs
at the same instant shifted forward by the gap (01:30 becomes 02:30); a time
that happens twice (the autumn overlap) runs once, at its first occurrence.
When both day-of-month and day-of-week are restricted, both must match.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_MONTHS = {n: i for i, n in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1)}
_DAYS = {n: i for i, n in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}

# (name, low, high, names)
_FIELDS = [
    ("second", 0, 59, {}),
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 0, 7, _DAYS),
]


class CronError(ValueError):
    pass


def _value(text: str, low: int, high: int, names: dict[str, int], field: str) -> int:
    key = text.upper()
    if key in names:
        return names[key]
    if not text.isdigit():
        raise CronError(f"{field} field: {text!r} is not a number")
    v = int(text)
    if not low <= v <= high:
        raise CronError(f"{field} field: {v} is outside {low}-{high}")
    return v


def _parse_field(text: str, field: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise CronError(f"{field} field: empty list item")
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{field} field: step {step_text!r} must be a positive number")
            step = int(step_text)
        if part == "*":
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = _value(a, low, high, names, field), _value(b, low, high, names, field)
            if start > end:
                raise CronError(f"{field} field: range {part!r} runs backwards")
        else:
            start = _value(part, low, high, names, field)
            end = high if step > 1 else start
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class NCronTab:
    expression: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    day_restricted: bool
    weekday_restricted: bool

    @classmethod
    def parse(cls, expression: str) -> NCronTab:
        parts = expression.split()
        if len(parts) != 6:
            raise CronError(
                f"expected six fields (second minute hour day month day-of-week), got {len(parts)}")
        sets = [_parse_field(p, name, lo, hi, names)
                for p, (name, lo, hi, names) in zip(parts, _FIELDS, strict=True)]
        weekdays = frozenset(d % 7 for d in sets[5])
        return cls(expression, sets[0], sets[1], sets[2], sets[3], sets[4], weekdays,
                   parts[3] not in ("*", "?"), parts[5] not in ("*", "?"))

    def matches_date(self, d: date) -> bool:
        if d.month not in self.months:
            return False
        if self.day_restricted and d.day not in self.days:
            return False
        # date.weekday(): Monday = 0; NCRONTAB: Sunday = 0
        return not (self.weekday_restricted and (d.weekday() + 1) % 7 not in self.weekdays)

    def _local_times(self, d: date) -> list[tuple[int, int, int]]:
        return [(h, m, s) for h in sorted(self.hours) for m in sorted(self.minutes)
                for s in sorted(self.seconds)]

    def occurrences(self, tz: str | ZoneInfo, after: datetime, until: datetime) -> list[datetime]:
        """Every occurrence in ``(after, until]``, as aware UTC datetimes, ascending."""
        zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
        start_local = after.astimezone(zone).date() - timedelta(days=1)
        end_local = until.astimezone(zone).date() + timedelta(days=1)
        out: set[datetime] = set()
        day = start_local
        times = self._local_times(day)
        while day <= end_local:
            if self.matches_date(day):
                for h, m, s in times:
                    local = datetime(day.year, day.month, day.day, h, m, s, tzinfo=zone, fold=0)
                    when = local.astimezone(UTC)
                    if after < when <= until:
                        out.add(when)
            day += timedelta(days=1)
        return sorted(out)

    def next_after(self, tz: str | ZoneInfo, after: datetime, horizon_days: int = 366 * 5) -> datetime | None:
        """The first occurrence strictly after ``after``, or None within the horizon."""
        step = timedelta(days=31)
        lo = after
        end = after + timedelta(days=horizon_days)
        while lo < end:
            hi = min(lo + step, end)
            found = self.occurrences(tz, lo, hi)
            if found:
                return found[0]
            lo = hi
        return None


def parse(expression: str) -> NCronTab:
    return NCronTab.parse(expression)


def validate_time_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CronError(f"{name!r} is not an IANA time zone") from exc


def parse_duration(text: str) -> timedelta:
    """``64h``, ``30m``, ``1h30m``, ``2d``, ``45s`` -> timedelta."""
    import re

    m = re.fullmatch(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text.strip())
    if not text.strip() or not m or not any(m.groups()):
        raise CronError(f"{text!r} is not a duration like 64h, 30m or 1h30m")
    d, h, mi, s = (int(g) if g else 0 for g in m.groups())
    return timedelta(days=d, hours=h, minutes=mi, seconds=s)
