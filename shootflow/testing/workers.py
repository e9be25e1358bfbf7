"""Celery processes as a user runs them (a worker, beat) for the tests and the bench, and
the Chromium processes a worker leaves alive."""
import os
import signal
import subprocess
import sys
from pathlib import Path

from ..monitoring import QUEUES
from .servers import ROOT, free_port, wait_for


class CeleryWorker:
    """`celery worker` as a user runs it, on every queue."""

    def __init__(self, env, logfile, concurrency=2):
        self.logfile = logfile
        self.name = f"test-{os.getpid()}-{free_port()}@localhost"
        self.command = [sys.executable, "-m", "celery", "-A", "wsgi:celery_app", "worker",
                        "-Q", ",".join(QUEUES), "--concurrency", str(concurrency), "--hostname", self.name,
                        "--loglevel", "INFO", "--without-gossip", "--without-mingle"]
        self.env = env
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            self.command, cwd=ROOT, env=self.env, stdout=open(self.logfile, "ab"),
            stderr=subprocess.STDOUT, start_new_session=True)

    def restart(self, celery_app):
        self.stop()
        self.start()
        self.wait_ready(celery_app)

    def chromium_pids(self):
        """Chromium processes anywhere under the worker (its pool processes' browsers)."""
        from shootflow.capture.processes import tree
        return {p.pid for p in tree(self.proc.pid) if _is_chromium(p)}

    def wait_ready(self, celery_app):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited; see {self.logfile}")
            replies = celery_app.control.ping(destination=[self.name], timeout=0.5)
            return bool(replies)
        wait_for(ready, timeout=60, message="the Celery worker to answer ping")

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


class CeleryBeat:
    """`celery beat` as the Procfile runs it, with its own schedule file and log (`name`)."""

    def __init__(self, env, workdir, name):
        self.log = Path(workdir) / f"{name}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "wsgi:celery_app", "beat",
             "--schedule", str(Path(workdir) / f"{name}.schedule"), "--loglevel", "INFO"],
            cwd=ROOT, env=env, stdout=open(self.log, "wb"), stderr=subprocess.STDOUT)

    def ticks_sent(self, entry):
        """How many times this beat has sent the schedule's `entry`."""
        return self.log.read_text(errors="replace").count(f"Sending due task {entry} ")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def _is_chromium(proc):
    """A live (not yet reaped counts as dead) Chromium or ChromeDriver process."""
    import psutil

    from shootflow.capture.processes import BROWSER_NAMES, read
    return (read(proc, "status", psutil.STATUS_ZOMBIE) != psutil.STATUS_ZOMBIE
            and read(proc, "name") in BROWSER_NAMES)


def alive_chromium(pids):
    """Those of pids that are still running Chromium or ChromeDriver."""
    import psutil
    from shootflow.capture.processes import GONE
    alive = set()
    for pid in pids:
        try:
            if _is_chromium(psutil.Process(pid)):
                alive.add(pid)
        except GONE:
            pass
    return alive
