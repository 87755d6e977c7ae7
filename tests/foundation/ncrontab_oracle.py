"""An independent NCRONTAB oracle, written from the rules of NCrontab and the WebJobs timer.

It shares no code with ``shared.ncrontab`` and is deliberately naive (day-by-day
scans, nested loops, offsets found by round trips) so that a mistake in the fast
implementation does not repeat here.

NCrontab (``CrontabFieldImpl.InternalParse`` / ``CrontabField.Accumulate``):

R1  The expression is split on the space character (other white space is not a
    separator); empty pieces are dropped. Five pieces: no seconds (second 0).
    Anything else must be six pieces (the host parses "with seconds" unless
    there are exactly five).
R2  A field containing a comma at a position other than the first is a list;
    every item is parsed by these rules; an empty item is an error.
R3  A slash at a position other than the first separates a step; the step text
    is a .NET Int32 (white space around, optional sign). A step below 1 is 1.
R4  ``*`` is the whole field. A dash at a position other than the first is a
    range ``a-b``; a reversed range is swapped. Otherwise one value; a value
    with a step runs from the value to the field's maximum.
R5  A value starting with an ASCII digit is a .NET Int32 (trailing white space
    allowed); otherwise, for month and day-of-week, the first name (in
    calendar order, Sunday first) that starts with the text, ignoring case.
R6  Bounds: second/minute 0-59, hour 0-23, day 1-31, month 1-12,
    day-of-week 0-6; a value or range end outside them is an error.
R7  The next occurrence after a wall time is the earliest later whole-second
    wall time whose every field matches (day-of-month AND day-of-week),
    before the year 10000.

WebJobs ``CronSchedule`` (time zones):

H1  The schedule is an *interval* when, printed the way NCrontab prints it
    (runs of consecutive values as ``a-b``, the full range as ``*``), one of
    the first three printed fields (two for five-field expressions) contains
    ``*``, ``-`` or ``/``.
H2  From the instant ``now``: R7 on now's local wall time gives a wall time,
    placed on the time line with the zone's *standard* offset when it is
    ambiguous or does not exist.
H3  If neither now's wall time nor next's wall time is ambiguous: done.
H4  Point-in-time, next ambiguous, offsets of now and next differ: move next
    by (next offset - now offset).
H5  Point-in-time, next ambiguous, same offsets: repeat R7 from next's wall
    time until a wall time that is not ambiguous; place it as in H2.
H6  Interval, either ambiguous, offsets differ: as H4.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september",
          "october", "november", "december"]
DAYS = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
BOUNDS = {"second": (0, 59, None), "minute": (0, 59, None), "hour": (0, 23, None), "day": (1, 31, None),
          "month": (1, 12, MONTHS), "weekday": (0, 6, DAYS)}
NET_WHITE = set(" \t\n\v\f\r")


class Refused(Exception):
    pass


def net_int32(s: str) -> int:
    i, j = 0, len(s)
    while i < j and s[i] in NET_WHITE:
        i += 1
    while j > i and s[j - 1] in NET_WHITE:
        j -= 1
    body = s[i:j]
    sign = 1
    if body[:1] in ("+", "-"):
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    if not body or any(c not in "0123456789" for c in body):
        raise Refused(f"{s!r} is not an Int32")
    n = sign * int(body)
    if n < -(2**31) or n > 2**31 - 1:
        raise Refused("Int32 overflow")
    return n


def value_of(s: str, field: str) -> int:
    lo, _hi, names = BOUNDS[field]
    if s == "":
        raise Refused("empty value")
    if s[0] in "0123456789":
        return net_int32(s)
    if names is None:
        raise Refused("not numeric")
    for index, name in enumerate(names):
        if name[: len(s)] == s.lower() and len(s) <= len(name):
            return lo + index
    raise Refused("unknown name")


def expand(s: str, field: str) -> set[int]:
    lo, hi, _ = BOUNDS[field]
    if s == "":
        raise Refused("empty item")
    comma = s.find(",")
    if comma >= 1:
        out: set[int] = set()
        for piece in s.split(","):
            out |= expand(piece, field)
        return out
    step = None
    slash = s.find("/")
    if slash >= 1:
        step = net_int32(s[slash + 1:])
        s = s[:slash]
    stride = 1 if step is None or step < 1 else step
    if s == "*":
        return set(range(lo, hi + 1, stride))
    dash = s.find("-")
    if dash >= 1:
        return _span(value_of(s[:dash], field), value_of(s[dash + 1:], field), lo, hi, stride)
    v = value_of(s, field)
    return _span(v, v if step is None else hi, lo, hi, stride)


def _span(a: int, b: int, lo: int, hi: int, stride: int) -> set[int]:
    """From the smaller of ``a`` and ``b`` to the larger by ``stride``; refused outside ``[lo, hi]``."""
    a, b = sorted((a, b))
    if a < lo or b > hi:
        raise Refused("out of bounds")
    return set(range(a, b + 1, stride))


class Oracle:
    def __init__(self, expression: str) -> None:
        pieces = [p for p in expression.split(" ") if p != ""]
        if len(pieces) == 5:
            pieces = ["0", *pieces]
            printed = ["minute", "hour"]
        elif len(pieces) == 6:
            printed = ["second", "minute", "hour"]
        else:
            raise Refused("field count")
        names = ["second", "minute", "hour", "day", "month", "weekday"]
        self.sets = {n: expand(p, n) for n, p in zip(names, pieces, strict=True)}
        self.interval = any(self._prints_as_interval(n) for n in printed)

    def _prints_as_interval(self, field: str) -> bool:
        lo, hi, _ = BOUNDS[field]
        values = self.sets[field]
        if values == set(range(lo, hi + 1)):
            return True  # printed "*"
        return any(v + 1 in values for v in values)  # a run printed "a-b"

    # R7, by brute force (day by day; within a day, nested loops)
    def next_wall(self, wall: datetime, max_days: int) -> datetime | None:
        s = self.sets
        base = wall.replace(microsecond=0)
        bh, bm, bs = base.hour, base.minute, base.second
        hours, minutes, seconds = sorted(s["hour"]), sorted(s["minute"]), sorted(s["second"])
        day = base.date()
        for _ in range(max_days):
            if (day.month in s["month"] and day.day in s["day"]
                    and day.isoweekday() % 7 in s["weekday"]):
                later_day = day > base.date()
                for h in hours:
                    if not later_day and h < bh:
                        continue
                    for m in minutes:
                        if not later_day and (h, m) < (bh, bm):
                            continue
                        for sec in seconds:
                            if later_day or (h, m, sec) > (bh, bm, bs):
                                return datetime(day.year, day.month, day.day, h, m, sec)
            if day == date(9999, 12, 31):
                return None
            day += timedelta(days=1)
        return None


def wall_kind(wall: datetime, zone: ZoneInfo) -> str:
    """'normal', 'ambiguous' or 'missing', by round trips through UTC."""
    back = []
    for fold in (0, 1):
        aware = wall.replace(tzinfo=zone, fold=fold)
        back.append(aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall)
    offs = {wall.replace(tzinfo=zone, fold=f).utcoffset() for f in (0, 1)}
    if len(offs) == 1:
        return "normal"
    return "ambiguous" if all(back) else "missing"


def standard_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """H2: normal times as they are; ambiguous/missing ones with the standard (the smaller) offset."""
    offs = [wall.replace(tzinfo=zone, fold=f).utcoffset() for f in (0, 1)]
    off = min(o for o in offs if o is not None)
    return (wall - off).replace(tzinfo=UTC)


def offset_at(instant: datetime, zone: ZoneInfo) -> timedelta:
    o = instant.astimezone(zone).utcoffset()
    assert o is not None
    return o


def host_next(oracle: Oracle, zone: ZoneInfo, now: datetime, max_days: int) -> datetime | None:
    now_wall = now.astimezone(zone).replace(tzinfo=None)
    wall = oracle.next_wall(now_wall, max_days)
    if wall is None:
        return None
    nxt = standard_instant(wall, zone)
    now_amb = wall_kind(now_wall, zone) == "ambiguous"
    next_amb = wall_kind(nxt.astimezone(zone).replace(tzinfo=None), zone) == "ambiguous"
    if not now_amb and not next_amb:
        return nxt
    diff = offset_at(nxt, zone) - offset_at(now, zone)  # next.Offset - now.Offset (.NET ToLocalTime)
    if not oracle.interval and next_amb and diff:
        return nxt + diff
    if not oracle.interval and next_amb:
        w: datetime | None = wall
        while w is not None and wall_kind(w, zone) == "ambiguous":
            w = oracle.next_wall(w, max_days)
        return None if w is None else standard_instant(w, zone)
    if oracle.interval and diff:
        return nxt + diff
    return nxt


def transitions(zone: ZoneInfo, first_year: int, last_year: int) -> list[datetime]:
    """UTC instants where the zone's offset changes (found hourly, then to the minute)."""
    out = []
    t = datetime(first_year, 1, 1, tzinfo=UTC)
    end = datetime(last_year + 1, 1, 1, tzinfo=UTC)
    prev = offset_at(t, zone)
    while t < end:
        t2 = t + timedelta(hours=1)
        cur = offset_at(t2, zone)
        if cur != prev:
            lo, hi = t, t2
            while hi - lo > timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                mid = mid.replace(second=0, microsecond=0)
                if mid <= lo:
                    break
                if offset_at(mid, zone) == prev:
                    lo = mid
                else:
                    hi = mid
            out.append(hi)
            prev = cur
        t = t2
    return out
