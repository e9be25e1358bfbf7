"""Schedules: what they accept, when they run (across daylight-saving changes), in words."""
from datetime import datetime, timedelta

import pytest

from shootflow.schedules import ScheduleError, parse_schedule

NOW = datetime(2026, 11, 29, 12, 7)


def runs(text, after, count, tz="UTC", anchor=None):
    return parse_schedule(text, tz, now=after).runs(after, count, anchor)


def test_every_15_minutes_as_cron_and_in_words():
    assert runs("*/15 * * * *", NOW, 3) == [datetime(2026, 11, 29, 12, 15),
                                            datetime(2026, 11, 29, 12, 30),
                                            datetime(2026, 11, 29, 12, 45)]
    assert parse_schedule("*/15 * * * *").describe() == "Every 15 minutes"


def test_intervals_keep_the_watch_s_rhythm():
    anchor = datetime(2026, 11, 29, 12, 0, 30)
    assert runs("every 2 hours", NOW, 2, anchor=anchor) == [datetime(2026, 11, 29, 14, 0, 30),
                                                            datetime(2026, 11, 29, 16, 0, 30)]
    assert parse_schedule("Every  15 Minutes").describe() == "every 15 minutes"


@pytest.mark.parametrize("alias, first", [
    ("@hourly", datetime(2026, 11, 29, 13, 0)),
    ("@daily", datetime(2026, 11, 30, 0, 0)),
    ("@weekly", datetime(2026, 12, 6, 0, 0)),  # Sunday
])
def test_aliases(alias, first):
    assert runs(alias, NOW, 1) == [first]


def test_weekdays_at_nine_in_berlin_in_words_and_in_utc():
    schedule = parse_schedule("0 9 * * 1-5", "Europe/Berlin")
    assert schedule.describe() == "At 09:00, Monday through Friday (Europe/Berlin)"
    # Friday 2026-11-27 is a weekday in winter (UTC+1): 08:00 UTC; then Monday.
    assert schedule.runs(datetime(2026, 11, 27, 7, 0), 2) == [
        datetime(2026, 11, 27, 8, 0), datetime(2026, 11, 30, 8, 0)]


def test_a_daily_run_in_the_skipped_hour_runs_once_an_hour_later():
    # 2026-03-29: Berlin's clocks jump from 02:00 to 03:00; 02:30 does not exist.
    got = runs("30 2 * * *", datetime(2026, 3, 28, 12, 0), 3, "Europe/Berlin")
    assert got == [datetime(2026, 3, 29, 1, 30),    # 03:30 CEST
                   datetime(2026, 3, 30, 0, 30),    # 02:30 CEST
                   datetime(2026, 3, 31, 0, 30)]


def test_a_daily_run_in_the_repeated_hour_runs_once():
    # 2026-10-25: Berlin's clocks go back from 03:00 to 02:00; 02:30 happens twice.
    got = runs("30 2 * * *", datetime(2026, 10, 24, 12, 0), 2, "Europe/Berlin")
    assert got == [datetime(2026, 10, 25, 0, 30), datetime(2026, 10, 26, 1, 30)]


def test_every_15_minutes_neither_skips_nor_doubles_across_both_changes():
    for start in (datetime(2026, 3, 29, 0, 0), datetime(2026, 10, 25, 0, 0)):
        got = runs("*/15 * * * *", start, 16, "Europe/Berlin")
        assert [b - a for a, b in zip(got, got[1:])] == [timedelta(minutes=15)] * 15, start


@pytest.mark.parametrize("text, tz, message", [
    ("", "UTC", '"schedule" must be a cron expression'),
    ("every week", "UTC", "is not a five-field cron expression"),
    ("61 * * * *", "UTC", "is not a five-field cron expression"),
    ("* * * *", "UTC", "is not a five-field cron expression"),
    ("* * * * *", "UTC", "would run every 60 s; runs may not come closer than 120 s"),
    ("every 1 minutes", "UTC", "would run every 60 s"),
    ("every 0 hours", "UTC", "must run every 1 or more"),
    ("@daily", "Mars/Olympus", '"timezone" \'Mars/Olympus\' is not an IANA time zone'),
    ("@daily", "", '"timezone" must be an IANA time zone name'),
    (["@daily"], "UTC", '"schedule" must be a cron expression'),
])
def test_bad_schedules_are_refused_with_a_reason(text, tz, message):
    with pytest.raises(ScheduleError, match=None) as info:
        parse_schedule(text, tz, min_interval=120, now=NOW)
    assert message in str(info.value)
