"""Figures and tables: percentiles, number formats, and the report that prints each table
as a Markdown table and keeps every line for the results file."""
import statistics
import sys
from datetime import datetime, timezone


def pct(values, p, empty=float("nan")):
    """Percentile with linear interpolation (p in 0..100); empty when there are no values."""
    values = sorted(values)
    if not values:
        return empty
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def median(values):
    return statistics.median(values) if values else float("nan")


def fmt(value, digits=2):
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def utc_epoch(value):
    """A row's naive-UTC timestamp (text from SQLite, datetime from PostgreSQL) in seconds
    since the epoch; None for none."""
    if not value:
        return None
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(str(value))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


class Report:
    """Prints as it goes and keeps every line for the results file; numbers in tables have
    `digits` places."""

    def __init__(self, digits=2):
        self.lines = []
        self.digits = digits

    def out(self, text=""):
        print(text, flush=True)
        self.lines.extend(str(text).splitlines() or [""])

    def table(self, title, headers, rows, note=None):
        self.out()
        self.out(f"### {title}")
        self.out()
        self.out("| " + " | ".join(headers) + " |")
        self.out("|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|")
        for row in rows:
            self.out("| " + " | ".join(fmt(c, self.digits) for c in row) + " |")
        if note:
            self.out()
            for line in note.strip().splitlines():
                self.out(line)

    def log(self, text):
        print(f"  · {text}", file=sys.stderr, flush=True)
