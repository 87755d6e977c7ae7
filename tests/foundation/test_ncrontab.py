"""NCRONTAB evaluation in a time zone, across daylight saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.ncrontab import CronError, parse, parse_duration


def utc(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)


def test_weekday_evening_in_london_winter_and_summer() -> None:
    cron = parse("0 0 19 * * 1-5")
    assert cron.next_after("Europe/London", utc(2026, 1, 9, 20)) == utc(2026, 1, 12, 19)  # Fri -> Mon, GMT
    assert cron.next_after("Europe/London", utc(2026, 7, 1, 12)) == utc(2026, 7, 1, 18)  # BST


def test_spring_gap_runs_once_shifted_forward() -> None:
    cron = parse("0 30 1 * * *")  # 01:30 does not exist in London on 2026-03-29
    runs = cron.occurrences("Europe/London", utc(2026, 3, 28), utc(2026, 3, 31))
    assert runs == [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30)]


def test_autumn_overlap_runs_once_at_first_occurrence() -> None:
    cron = parse("0 30 1 * * *")  # 01:30 happens twice in New York on 2026-11-01
    runs = cron.occurrences("America/New_York", utc(2026, 10, 31), utc(2026, 11, 3))
    assert runs == [utc(2026, 10, 31, 5, 30), utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)]


def test_steps_ranges_lists_and_names() -> None:
    cron = parse("*/20 0,30 9-10 * JAN-MAR MON")
    assert cron.seconds == {0, 20, 40}
    assert cron.minutes == {0, 30}
    assert cron.hours == {9, 10}
    assert cron.months == {1, 2, 3}
    assert cron.weekdays == {1}


def test_sunday_is_zero_or_seven() -> None:
    assert parse("0 0 0 * * 7").weekdays == parse("0 0 0 * * 0").weekdays == {0}


@pytest.mark.parametrize("expr", ["0 0 19 * *", "0 60 * * * *", "a b c d e f", "0 0 5-1 * * *", "0 */0 * * * *",
                                  "0 0 0 32 * *"])
def test_invalid_expressions_are_refused(expr: str) -> None:
    with pytest.raises(CronError):
        parse(expr)


def test_occurrences_are_in_half_open_interval() -> None:
    cron = parse("0 0 * * * *")
    runs = cron.occurrences("UTC", utc(2026, 1, 1, 0), utc(2026, 1, 1, 3))
    assert runs == [utc(2026, 1, 1, 1), utc(2026, 1, 1, 2), utc(2026, 1, 1, 3)]


def test_durations() -> None:
    assert parse_duration("64h") == timedelta(hours=64)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    with pytest.raises(CronError):
        parse_duration("soon")
