"""When a watch runs: its schedule read from text, its next run found, and said in words.

A schedule is a five-field cron expression, @hourly/@daily/@weekly, or "every N minutes",
"every N hours", "every N days". Cron fields are read in the watch's time zone by croniter;
instants are UTC (naive, as the rows keep them). Across daylight-saving changes no run is
skipped or doubled: a time that does not exist that day (02:30 when clocks jump from 02:00
to 03:00) runs at the same instant an hour later by the wall clock, and a time that exists
twice (clocks going back) runs once, unless the schedule runs every hour, which then runs
in both hours, as the clock on the wall would have it."""
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cron_descriptor import Options, get_description
from croniter import croniter

ALIASES = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@weekly": "0 0 * * 0"}
_EVERY = re.compile(r"^every\s+(\d{1,5})\s+(minute|hour|day)s?$")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
MAX_TEXT = 100
# How far ahead the gap between runs is checked against the minimum interval.
CHECKED_RUNS = 50


class ScheduleError(ValueError):
    """A schedule or time zone shootflow cannot use; the message says why."""


def _utc(moment):
    return moment.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class Schedule:
    text: str                 # as the person wrote it, tidied
    tz: ZoneInfo
    cron: str | None = None   # five fields, in tz
    every: int | None = None  # seconds, for "every N …"

    def next_after(self, after, anchor=None):
        """The first run strictly after `after` (UTC, naive). Intervals count from anchor
        (the watch's creation), so a watch keeps its rhythm whatever the checks' timing."""
        if self.every is not None:
            anchor = anchor or after
            steps = max(0, int((after - anchor).total_seconds() // self.every) + 1)
            return anchor + timedelta(seconds=steps * self.every)
        local = _utc(after).astimezone(self.tz).replace(tzinfo=None)
        # Start an hour early, so that a run in a repeated hour after `after` is seen.
        runs = croniter(self.cron, local - timedelta(hours=1))
        for _ in range(10_000):
            wall = runs.get_next(datetime)
            for instant in self._instants(wall):
                if instant > after:
                    return instant
        raise ScheduleError(f"the schedule {self.text!r} never runs")

    def _instants(self, wall):
        """The UTC instants at which the wall-clock time `wall` happens in tz: usually one;
        in the hour that repeats when clocks go back, two (the second only for schedules
        that run every hour); in the hour skipped when clocks go forward, the instant an
        hour later by the wall clock."""
        first, second = (_utc_of(wall.replace(tzinfo=self.tz, fold=fold)) for fold in (0, 1))
        if first == second:
            return [first]
        repeated = all(_utc(instant).astimezone(self.tz).replace(tzinfo=None) == wall
                       for instant in (first, second))
        if repeated:
            return sorted((first, second)) if self.cron.split()[1] == "*" \
                else [min(first, second)]
        return [first]  # does not exist: taken at the offset before the change

    def runs(self, after, count, anchor=None):
        out = []
        for _ in range(count):
            after = self.next_after(after, anchor)
            out.append(after)
        return out

    def describe(self):
        """The schedule in words: "every 15 minutes", "At 09:00, Monday through Friday"."""
        if self.every is not None:
            words = self.text
        else:
            options = Options()
            options.use_24hour_time_format = True
            words = get_description(self.cron, options)
        return words if self.tz.key == "UTC" else f"{words} ({self.tz.key})"


def _utc_of(aware):
    return aware.astimezone(timezone.utc).replace(tzinfo=None)


def time_zone(name):
    if not isinstance(name, str) or not name or len(name) > 64:
        raise ScheduleError('"timezone" must be an IANA time zone name such as '
                            '"Europe/Berlin"')
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f'"timezone" {name[:64]!r} is not an IANA time zone name '
                            '(such as "Europe/Berlin" or "UTC")') from None


def parse_schedule(text, tz_name="UTC", min_interval=60, now=None):
    """A Schedule from what a person wrote; ScheduleError if it cannot be used, or would run
    more often than every min_interval seconds."""
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
        raise ScheduleError('"schedule" must be a cron expression such as "*/15 * * * *", '
                            '@hourly, @daily, @weekly, or "every 15 minutes"')
    tz = time_zone(tz_name)
    tidy = " ".join(text.strip().lower().split())
    every = _EVERY.match(tidy)
    if every:
        seconds = int(every[1]) * _UNITS[every[2]]
        if seconds <= 0:
            raise ScheduleError('"schedule" must run every 1 or more minutes, hours or days')
        schedule = Schedule(tidy, tz, every=seconds)
        shortest = seconds
    else:
        cron = ALIASES.get(tidy, tidy)
        if len(cron.split()) != 5 or not croniter.is_valid(cron):
            raise ScheduleError(f'"schedule" {text.strip()[:MAX_TEXT]!r} is not a five-field '
                                'cron expression, @hourly, @daily, @weekly or "every N '
                                'minutes|hours|days"')
        schedule = Schedule(tidy, tz, cron=cron)
        if min_interval <= 0:  # a stored schedule, checked when it was given
            return schedule
        start = now or datetime.now(timezone.utc).replace(tzinfo=None)
        runs = schedule.runs(start, CHECKED_RUNS)
        shortest = min((b - a).total_seconds() for a, b in zip(runs, runs[1:]))
    if shortest < min_interval:
        raise ScheduleError(f'"schedule" would run every {shortest:g} s; runs may not come '
                            f"closer than {min_interval} s (SHOOTFLOW_MIN_WATCH_INTERVAL)")
    return schedule
