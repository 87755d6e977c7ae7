"""NCRONTAB as Azure Functions evaluates it: NCrontab's parser and the WebJobs host's DST rule.

The property test compares ``shared.ncrontab`` with an independent oracle
(``ncrontab_oracle.py``, written from the rules) over random expressions, time
zones and instants, many of them next to a daylight-saving change.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from shared.ncrontab import CronError, NCronTab, parse, parse_duration

from . import ncrontab_oracle as oracle

ZONES = ["Europe/London", "America/New_York", "Australia/Lord_Howe", "Pacific/Chatham", "Asia/Kolkata"]


def utc(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)


def local_times(expr: str, zone: str, start: datetime, n: int) -> list[str]:
    cron, z, t, out = parse(expr), ZoneInfo(zone), start.astimezone(UTC), []
    for _ in range(n):
        nxt = cron.next_after(z, t)
        assert nxt is not None
        out.append(nxt.astimezone(z).strftime("%m-%d %H:%M%z"))
        t = nxt
    return out


# ----------------------------------------------------------------- parsing (issue #21 item 1)
def test_day_of_week_step_stops_at_saturday() -> None:
    # NCrontab: a bare n/step runs to 6; 7 never wraps to Sunday.
    assert parse("0 0 19 * * 1/2").weekdays == (1, 3, 5)
    runs = parse("0 0 19 * * 1/2").occurrences("UTC", utc(2026, 1, 4), utc(2026, 1, 11))
    assert [r.strftime("%a") for r in runs] == ["Mon", "Wed", "Fri"]


def test_names_prefixes_reversed_ranges_and_step_zero_are_accepted() -> None:
    assert parse("0 0 0 * March Sunday").months == (3,)
    assert parse("0 0 0 * March Sunday").weekdays == (0,)
    assert parse("0 0 0 * ju,AUG mo-fr").months == (6, 8)
    assert parse("0 0 0 * * mo-fr").weekdays == (1, 2, 3, 4, 5)
    assert parse("0 0 0 * * 6-0").weekdays == (0, 1, 2, 3, 4, 5, 6)  # swapped, not wrapped
    assert parse("0 0 20-4 * * *").hours == tuple(range(4, 21))
    assert parse("*/0 * * * * *").seconds == tuple(range(60))
    assert parse("0 5/-3 * * * *").minutes == tuple(range(5, 60))  # a step below 1 is 1
    assert parse("0 */+20 * * * *").minutes == (0, 20, 40)


def test_five_fields_have_second_zero() -> None:
    cron = parse("30 19 * * 1-5")
    assert cron.seconds == (0,) and cron.minutes == (30,) and not cron.has_seconds


@pytest.mark.parametrize("expr", [
    "0 0 0 * * 7", "0 0 0 * * 0-7", "0 0 19 *", "0 0 19 * * * *", "0 60 * * * *", "a b c d e f",
    "0 0 0 32 * *", "0 0 0 0 * *", "0 0 0 * 13 *", "0 0 0 ? * *", "0 0 0 L * *", "0 0 0 * * 1#2",
    "0 0 0 * * Sundae", "0 0,,1 0 * * *", "0 ,0 0 * * *", "0 */ * * * *", "0 /5 * * * *",
    "0 1- * * * *", "0 -1 * * * *", "0 1-2-3 * * *", "0 */99999999999 * * * *", "0\t0 * * * * *",
    "0 0 0 * * 8/2", "0 0 Mon * * *"])
def test_refused_like_ncrontab(expr: str) -> None:
    with pytest.raises(CronError):
        parse(expr)


# ------------------------------------------------------------- daylight saving (WebJobs rule)
def test_weekday_evening_in_london_winter_and_summer() -> None:
    cron = parse("0 0 19 * * 1-5")
    assert cron.next_after("Europe/London", utc(2026, 1, 9, 20)) == utc(2026, 1, 12, 19)  # Fri -> Mon, GMT
    assert cron.next_after("Europe/London", utc(2026, 7, 1, 12)) == utc(2026, 7, 1, 18)  # BST


def test_spring_gap_runs_once_shifted_forward() -> None:
    cron = parse("0 30 1 * * *")  # 01:30 does not exist in London on 2026-03-29
    runs = cron.occurrences("Europe/London", utc(2026, 3, 28), utc(2026, 3, 31))
    assert runs == [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30)]


def test_autumn_overlap_point_in_time_runs_once_at_first_pass() -> None:
    start = datetime(2026, 10, 31, 0, 0, tzinfo=ZoneInfo("America/New_York"))
    assert local_times("0 30 1 * * *", "America/New_York", start, 3) == [
        "10-31 01:30-0400", "11-01 01:30-0400", "11-02 01:30-0500"]


def test_autumn_overlap_interval_runs_through_both_passes() -> None:
    start = datetime(2026, 11, 1, 0, 30, tzinfo=ZoneInfo("America/New_York"))
    assert local_times("0 */20 * * * *", "America/New_York", start, 8) == [
        "11-01 00:40-0400", "11-01 01:00-0400", "11-01 01:20-0400", "11-01 01:40-0400",
        "11-01 01:00-0500", "11-01 01:20-0500", "11-01 01:40-0500", "11-01 02:00-0500"]


def test_point_in_time_started_in_the_second_pass_does_not_run_again() -> None:
    # A host started at 01:29 in the second pass assumes 01:30 ran in the first one.
    cron = parse("0 30 1 * * *")
    second_pass = datetime(2026, 11, 1, 1, 29, tzinfo=ZoneInfo("America/New_York"), fold=1)
    assert cron.next_after("America/New_York", second_pass.astimezone(UTC)) == utc(2026, 11, 2, 6, 30)


def test_lord_howe_half_hour_shift() -> None:
    z = ZoneInfo("Australia/Lord_Howe")  # +10:30 / +11, the clock moves 30 minutes
    # 2026-10-04 02:00 -> 02:30: 02:15 does not exist and runs at 02:45 (+11).
    assert local_times("0 15 2 * * *", "Australia/Lord_Howe", datetime(2026, 10, 3, 12, tzinfo=z), 2) == [
        "10-04 02:45+1100", "10-05 02:15+1100"]
    # 2026-04-05 02:00 -> 01:30: 01:45 happens twice; point-in-time runs at the first (+11).
    assert local_times("0 45 1 * * *", "Australia/Lord_Howe", datetime(2026, 4, 4, 12, tzinfo=z), 2) == [
        "04-05 01:45+1100", "04-06 01:45+1030"]


def test_occurrences_are_in_half_open_interval() -> None:
    cron = parse("0 0 * * * *")
    runs = cron.occurrences("UTC", utc(2026, 1, 1, 0), utc(2026, 1, 1, 3))
    assert runs == [utc(2026, 1, 1, 1), utc(2026, 1, 1, 2), utc(2026, 1, 1, 3)]


def test_never_matching_date_has_no_occurrence() -> None:
    assert parse("0 0 0 30 2 *").next_after("UTC", utc(2026, 1, 1)) is None


def test_durations() -> None:
    assert parse_duration("64h") == timedelta(hours=64)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    with pytest.raises(CronError):
        parse_duration("soon")


# ------------------------------------------------------------------------ property test
def _weighted(*choices: tuple[int, st.SearchStrategy[str]]) -> st.SearchStrategy[str]:
    """One of the strategies, drawn in proportion to the weights."""
    ranked = sorted(choices, key=lambda c: -c[0])  # hypothesis leans to the first branches
    return st.one_of([strategy for weight, strategy in ranked for _ in range(weight)])


def _value(kind: str, near_dst: bool) -> st.SearchStrategy[str]:
    lo, hi, names = oracle.BOUNDS[kind]
    numbers = st.integers(lo, hi).map(str)
    if kind == "hour" and near_dst:  # daylight-saving changes happen between 00:00 and 04:00 here
        numbers = st.integers(0, 4).map(str)
    edges = st.sampled_from([str(lo - 1) if lo else "00", str(hi + 1), str(hi), "07", "1\t"])
    choices = [(20, numbers)] + ([] if near_dst else [(1, edges)])
    if names:
        choices.append((2, st.builds(lambda n, k, up: (n[:k].upper() if up else n[:k]),
                                     st.sampled_from(names), st.integers(1, 9), st.booleans())))
    return _weighted(*choices)


JUNK = st.sampled_from(["?", "L", "", "-1", "*/", "/5", "1-", "**", "5W", "2#1", "1,", ",1", "0x1", "１"])
STEPS = st.sampled_from(["1", "2", "3", "5", "7", "15", "20", "30", "0", "-2", "+4", "100", "", "x", "\t3"])
GOOD_STEPS = st.sampled_from(["2", "3", "5", "15", "20", "30", "0", "-2", "+4", "100"])


def _item(kind: str, near_dst: bool) -> st.SearchStrategy[str]:
    v = _value(kind, near_dst)
    span = st.builds(lambda a, b: f"{a}-{b}", v, v)
    stepped = st.builds(lambda b, s: f"{b}/{s}", st.one_of(st.just("*"), v, span), GOOD_STEPS if near_dst else STEPS)
    return _weighted((0 if near_dst else 1, JUNK), (14, st.just("*")), (15, v), (10, span), (10, stepped))


def _field(kind: str, near_dst: bool = False) -> st.SearchStrategy[str]:
    item = _item(kind, near_dst)
    lists = st.lists(item, min_size=2, max_size=3).map(",".join)
    if kind in ("day", "month", "weekday"):  # mostly every day, so that the change days are reached
        return _weighted((12 if near_dst else 6, st.just("*")), (3, item), (1, lists))
    return _weighted((7, item), (3, lists))


KINDS = ["second", "minute", "hour", "day", "month", "weekday"]
EXPRESSIONS = _weighted(
    (1, st.lists(_field("minute"), min_size=0, max_size=8).map(" ".join)),  # wrong field counts
    (5, st.tuples(*[_field(k) for k in KINDS[1:]]).map("  ".join)),
    (14, st.tuples(*[_field(k) for k in KINDS]).map(" ".join)))
NEAR_DST = _weighted((1, st.tuples(*[_field(k, True) for k in KINDS[1:]]).map(" ".join)),
                     (3, st.tuples(*[_field(k, True) for k in KINDS]).map(" ".join)))


@cache
def _changes(zone: str) -> list[datetime]:
    return oracle.transitions(ZoneInfo(zone), 2025, 2030) or [utc(2027, 6, 1)]


@st.composite
def instants(draw: st.DrawFn, zone: str) -> datetime:
    if draw(st.sampled_from([True, True, True, False])):
        base = draw(st.sampled_from(_changes(zone)))
        return base + timedelta(seconds=draw(st.integers(-30 * 3600, 4 * 3600)))
    return utc(2025, 1, 1) + timedelta(seconds=draw(st.integers(0, 5 * 365 * 86400)))


HORIZON_DAYS = 800


def _property(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def _accepted_alike(expression: str) -> tuple[oracle.Oracle, NCronTab] | None:
    try:
        model = oracle.Oracle(expression)
    except oracle.Refused:
        model = None
    try:
        cron = parse(expression)
    except CronError:
        assert model is None, f"{expression!r} refused, NCrontab accepts it"
        event("refused")
        return None
    assert model is not None, f"{expression!r} accepted, NCrontab refuses it"
    assert cron.is_interval == model.interval, expression
    event("interval" if model.interval else "point-in-time")
    return model, cron


def _fires_alike(expression: str, zone: str, start: datetime, count: int = 6) -> None:
    pair = _accepted_alike(expression)
    if pair is None:
        return
    model, cron = pair
    z = ZoneInfo(zone)
    ours = theirs = start
    for _ in range(count):
        theirs_next = oracle.host_next(model, z, theirs, HORIZON_DAYS)
        ours_next = cron.next_after(z, ours)
        if theirs_next is None:  # nothing within the oracle's horizon
            assert ours_next is None or ours_next > theirs + timedelta(days=HORIZON_DAYS - 2), expression
            return
        assert ours_next == theirs_next, (expression, zone, ours.isoformat())
        assert theirs_next > theirs
        wall = model.next_wall(theirs.astimezone(z).replace(tzinfo=None), HORIZON_DAYS)
        if wall is not None and oracle.wall_kind(wall, z) != "normal":
            event(f"next local time {oracle.wall_kind(wall, z)}")
        if oracle.wall_kind(theirs.astimezone(z).replace(tzinfo=None), z) == "ambiguous":
            event("from an ambiguous local time")
        ours, theirs = ours_next, theirs_next


@_property(2000)
@given(data=st.data(), expression=EXPRESSIONS, zone=st.sampled_from(ZONES))
def test_parses_and_fires_like_the_oracle(data: st.DataObject, expression: str, zone: str) -> None:
    _fires_alike(expression, zone, data.draw(instants(zone)))


@_property(1200)
@given(data=st.data(), expression=NEAR_DST, zone=st.sampled_from(ZONES[:4]))
def test_fires_like_the_oracle_across_daylight_saving_changes(data: st.DataObject, expression: str,
                                                              zone: str) -> None:
    base = data.draw(st.sampled_from(_changes(zone)))
    _fires_alike(expression, zone, base + timedelta(seconds=data.draw(st.integers(-6 * 3600, 2 * 3600))))
