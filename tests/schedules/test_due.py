"""Due-time computation: wall clock of the environment's zone, daylight saving, skip dates, catch-up."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from shared.config import Schedule
from shared.schedules.due import due_in_window, next_actions, occurrences


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def weekday_schedule(tz: str, **kw: object) -> Schedule:
    return Schedule(time_zone=tz, stop="0 0 19 * * 1-5", start="0 0 7 * * 1-5", **kw)  # type: ignore[arg-type]


def test_london_stop_moves_one_hour_earlier_in_utc_after_the_spring_change() -> None:
    s = weekday_schedule("Europe/London")
    kept, _ = occurrences("dev", s, "stop", utc(2026, 3, 26), utc(2026, 4, 1))
    assert [k.scheduled for k in kept] == [
        utc(2026, 3, 26, 19), utc(2026, 3, 27, 19),   # GMT: 19:00 local = 19:00 UTC
        utc(2026, 3, 30, 18), utc(2026, 3, 31, 18),   # BST from Sun 29 March: 19:00 local = 18:00 UTC
    ]
    assert all(k.local.hour == 19 for k in kept)


def test_london_stop_moves_back_after_the_autumn_change() -> None:
    s = weekday_schedule("Europe/London")
    kept, _ = occurrences("dev", s, "stop", utc(2026, 10, 22), utc(2026, 10, 28))
    assert [k.scheduled for k in kept] == [
        utc(2026, 10, 22, 18), utc(2026, 10, 23, 18),  # BST
        utc(2026, 10, 26, 19), utc(2026, 10, 27, 19),  # GMT from Sun 25 October
    ]


def test_time_in_the_spring_gap_runs_once_shifted_forward() -> None:
    # 01:30 does not exist in London on 29 March 2026: it runs at 02:30 BST (01:30 UTC), once.
    s = Schedule(time_zone="Europe/London", stop="0 30 1 * * *")
    kept, _ = occurrences("dev", s, "stop", utc(2026, 3, 28, 12), utc(2026, 3, 29, 12))
    assert [k.scheduled for k in kept] == [utc(2026, 3, 29, 1, 30)]
    assert kept[0].local.hour == 2 and kept[0].local.minute == 30


def test_time_in_the_autumn_overlap_runs_once_at_its_first_occurrence() -> None:
    s = Schedule(time_zone="Europe/London", stop="0 30 1 * * *")
    kept, _ = occurrences("dev", s, "stop", utc(2026, 10, 24, 12), utc(2026, 10, 25, 12))
    assert [k.scheduled for k in kept] == [utc(2026, 10, 25, 0, 30)]  # 01:30 BST, not 01:30 GMT too


def test_new_york_spring_and_autumn_changes() -> None:
    s = weekday_schedule("America/New_York")
    spring, _ = occurrences("qa", s, "start", utc(2026, 3, 5), utc(2026, 3, 10))
    assert [k.scheduled for k in spring] == [utc(2026, 3, 5, 12), utc(2026, 3, 6, 12), utc(2026, 3, 9, 11)]
    autumn, _ = occurrences("qa", s, "start", utc(2026, 10, 29), utc(2026, 11, 3))
    assert [k.scheduled for k in autumn] == [utc(2026, 10, 29, 11), utc(2026, 10, 30, 11), utc(2026, 11, 2, 12)]
    gap = Schedule(time_zone="America/New_York", stop="0 30 2 * * *")
    kept, _ = occurrences("qa", gap, "stop", utc(2026, 3, 7, 12), utc(2026, 3, 8, 12))
    assert [k.scheduled for k in kept] == [utc(2026, 3, 8, 7, 30)]  # 03:30 EDT
    overlap = Schedule(time_zone="America/New_York", stop="0 30 1 * * *")
    kept, _ = occurrences("qa", overlap, "stop", utc(2026, 10, 31, 12), utc(2026, 11, 1, 12))
    assert [k.scheduled for k in kept] == [utc(2026, 11, 1, 5, 30)]  # 01:30 EDT, once


def test_skip_dates_are_local_dates_of_the_environment_zone() -> None:
    # 23:00 on 24 Dec in New York is 04:00 UTC on the 25th: skipping the 24th skips it.
    s = Schedule(time_zone="America/New_York", stop="0 0 23 * * *", skip_dates=[date(2026, 12, 24)])
    kept, skipped = occurrences("qa", s, "stop", utc(2026, 12, 24), utc(2026, 12, 27))
    assert [k.scheduled for k in skipped] == [utc(2026, 12, 25, 4)]
    assert [k.scheduled for k in kept] == [utc(2026, 12, 24, 4), utc(2026, 12, 26, 4)]  # 23rd, 25th local
    other = Schedule(time_zone="America/New_York", stop="0 0 23 * * *", skip_dates=[date(2026, 12, 25)])
    kept2, skipped2 = occurrences("qa", other, "stop", utc(2026, 12, 24), utc(2026, 12, 25, 5))
    assert [k.scheduled for k in kept2] == [utc(2026, 12, 24, 4), utc(2026, 12, 25, 4)] and skipped2 == []


def test_skipped_occurrence_is_not_due() -> None:
    s = weekday_schedule("Europe/London", skip_dates=[date(2026, 12, 25)])
    report = due_in_window({"dev": s}, utc(2026, 12, 25, 18, 59), utc(2026, 12, 25, 19, 1))
    assert report.due == () and [d.scheduled for d in report.skipped] == [utc(2026, 12, 25, 19)]


def test_missed_ticks_are_caught_up_once_with_the_latest_action() -> None:
    s = weekday_schedule("Europe/London")
    # The timer was down from Friday noon to Monday 08:00: Friday's stop and Monday's start were missed.
    report = due_in_window({"dev": s}, utc(2026, 1, 9, 12), utc(2026, 1, 12, 8))
    assert [(d.action, d.scheduled) for d in report.due] == [("start", utc(2026, 1, 12, 7))]
    assert [(d.action, d.scheduled) for d in report.superseded] == [("stop", utc(2026, 1, 9, 19))]
    # Three missed stops of an every-evening schedule: one stop, not three.
    nightly = Schedule(time_zone="UTC", stop="0 0 19 * * *")
    report = due_in_window({"dev": nightly}, utc(2026, 1, 5), utc(2026, 1, 8))
    assert [d.scheduled for d in report.due] == [utc(2026, 1, 7, 19)] and len(report.superseded) == 2


def test_window_is_half_open_and_keys_are_stable() -> None:
    s = weekday_schedule("UTC")
    at = utc(2026, 1, 5, 19)
    assert due_in_window({"dev": s}, at, at + timedelta(minutes=1)).due == ()
    first = due_in_window({"dev": s}, at - timedelta(minutes=1), at).due
    again = due_in_window({"dev": s}, at - timedelta(seconds=30), at + timedelta(seconds=30)).due
    assert first == again and first[0].key == "dev/stop/20260105T190000Z"


def test_environments_without_schedule_are_ignored_and_next_actions_skip_holidays() -> None:
    s = weekday_schedule("Europe/London", skip_dates=[date(2026, 12, 25)])
    assert due_in_window({"prod": None, "dev": s}, utc(2026, 1, 5, 18), utc(2026, 1, 5, 20)).due[0].environment == "dev"
    nxt = next_actions("dev", s, utc(2026, 12, 25, 8))
    assert nxt["stop"] == utc(2026, 12, 28, 19).isoformat()
    assert nxt["start"] == utc(2026, 12, 28, 7).isoformat()
