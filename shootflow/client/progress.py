"""Progress on standard error: a bar redrawn in place when the command runs in a terminal,
plain lines otherwise (a log, CI, a pipe), so that what is kept stays readable."""
import sys

import click
from rich.console import Console
from rich.progress import (BarColumn, DownloadColumn, MofNCompleteColumn, Progress,
                           TextColumn, TimeElapsedColumn, TransferSpeedColumn)


def in_terminal():
    """Redraw only when both outputs are a terminal: one redirected means someone keeps it."""
    return sys.stdout.isatty() and sys.stderr.isatty()


class Meter:
    """One piece of work's progress. update(done, total, text): the bar moves, or the line
    `plain(done, total, text)` is printed if it differs from the last one printed."""

    def __init__(self, *columns, plain=lambda done, total, text: text, total=None, text=""):
        self.plain, self.last = plain, None
        self.bar = None
        if in_terminal():
            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), *columns,
                                TimeElapsedColumn(), console=Console(stderr=True))
            self.task = self.bar.add_task(text, total=total)

    def __enter__(self):
        if self.bar:
            self.bar.start()
        return self

    def update(self, done, total, text=""):
        if self.bar:
            self.bar.update(self.task, completed=done, total=total, description=text)
            return
        line = self.plain(done, total, text)
        if line and line != self.last:
            click.echo(line, err=True)
            self.last = line

    def __exit__(self, *_exc):
        if self.bar:
            self.bar.stop()


def count_meter(plain=lambda done, total, text: text, total=None, text=""):
    """Things counted (shots finished, images written); plain lines are the text, or none."""
    return Meter(MofNCompleteColumn(), plain=plain or (lambda *_: None), total=total,
                 text=text)


def _size(count):
    for unit in ("bytes", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:,} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1000


def _tenths(done, total, text):
    """A plain line at each tenth of a download of known size, else at each megabyte."""
    if total:
        return f"{text}: {done * 10 // total * 10}% of {_size(total)}"
    return f"{text}: {_size(done // 1_000_000 * 1_000_000)}"


def bytes_meter():
    return Meter(DownloadColumn(), TransferSpeedColumn(), plain=_tenths)
