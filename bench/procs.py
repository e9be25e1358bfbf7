"""The processes the bench starts and how it stops every one of them. What they use (CPU
seconds, memory) is read in bench/usage.py.

Every process the bench starts gets the environment variable MARK=<run id>, which its
children (chromedriver, Chromium and its helpers) inherit, so the bench can find and end
exactly its own processes at the end, whatever happened, and nothing else.
"""
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import psutil

from shootflow.capture.processes import read
from shootflow.testing.servers import free_port, wait_for  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
MARK = "SHOOTFLOW_BENCH_RUN"
PROC_MARK = "SHOOTFLOW_BENCH_PROC"
# The caller's SHOOTFLOW_* settings that a bench stack keeps: where Chromium is.
KEPT_ENV = ("SHOOTFLOW_CHROMIUM", "SHOOTFLOW_CHROMEDRIVER")


def procfile():
    """{name: command} of every entry of the repository's Procfile."""
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if ":" in line and not line.lstrip().startswith("#"):
            name, command = line.split(":", 1)
            entries[name.strip()] = command.strip()
    return entries


def scrubbed_environ():
    """This process's environment without the caller's SHOOTFLOW_* settings (bar KEPT_ENV),
    so a stack runs with the defaults and the bench's own settings only."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("SHOOTFLOW_") or k in KEPT_ENV}


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def check_alive(processes):
    """True, or RuntimeError naming the first of processes (None: not started) that exited."""
    for process in processes:
        if process is not None and not process.alive():
            raise RuntimeError(f"{process.name} exited; see {process.log_path}")
    return True


def wait_workers(broker_url, names, hostname, alive, timeout=90):
    """Wait until each Celery worker name@hostname answers a ping (alive() raises if a
    process of the stack exited meanwhile)."""
    from celery import Celery
    control = Celery(broker=broker_url)
    try:
        for name in names:
            dest = f"{name}@{hostname}"
            wait_for(lambda: alive() and control.control.ping(destination=[dest], timeout=1.0),
                     timeout, 0.5, f"worker {dest} to answer ping")
    finally:
        control.close()


def marked_pids(value, name=MARK):
    """Processes whose environment carries name=value (any value when value is None)."""
    found = {}
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        mark = (read(proc, "environ") or {}).get(name)
        if mark is not None and (value is None or mark == value):
            found[proc.pid] = mark
    return found


def cmdline(pid):
    try:
        return " ".join(read(psutil.Process(pid), "cmdline") or ())
    except psutil.NoSuchProcess:
        return ""


# ---------------------------------------------------------------- process management

class Process:
    """One started command in its own session, with its output in a log file."""

    def __init__(self, name, argv, env, log_path, cwd=ROOT, stdout=None):
        self.name = name
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
            stdout=stdout if stdout is not None else self.log,
            stderr=self.log, start_new_session=True)
        self.pid = self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def signal_group(self, sig):
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, timeout=20):
        """SIGTERM the group, wait, then SIGKILL it."""
        if self.alive():
            self.signal_group(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        self.signal_group(signal.SIGKILL)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self.log.close()


class Processes:
    """Everything one bench run starts; stop_all() ends every one of them."""

    def __init__(self):
        self.run_id = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.started = []

    def env(self, extra=None, base=None):
        """base (this process's environment) with the run's mark and extra."""
        env = dict(os.environ if base is None else base)
        env[MARK] = self.run_id
        env.update(extra or {})
        return env

    def start(self, name, argv, env, log_path, **kwargs):
        tag = f"{name}-{uuid.uuid4().hex[:8]}"
        process = Process(name, argv, {**env, PROC_MARK: tag}, log_path, **kwargs)
        process.tag = tag
        self.started.append(process)
        return process

    def start_command(self, name, command, env, work):
        """A Procfile command line under bash, its output in work/logs/<name>.log. It runs
        from a folder of the bench's own, so relative paths in it (a worker's --statedb
        under instance/) never touch the repository's instance/."""
        cwd = work / "cwd"
        (cwd / "instance").mkdir(parents=True, exist_ok=True)
        return self.start(name, ["bash", "-c", "exec " + command], env,
                          work / "logs" / f"{name}.log", cwd=cwd)

    def stop(self, process, timeout=20):
        """Stop one process and whatever it left behind (Chromium helpers), nothing else."""
        process.stop(timeout)
        if process in self.started:
            self.started.remove(process)
        self.sweep(quiet=True, value=process.tag, name=PROC_MARK)

    def stop_all(self, timeout=25):
        for process in reversed(self.started):  # workers and web first, redis last
            if process.alive():
                process.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in reversed(self.started):
            try:
                process.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            process.stop(timeout=0)
        self.started.clear()
        return self.sweep()

    def sweep(self, quiet=False, value=None, name=MARK):
        """SIGKILL any process still carrying this run's mark (orphaned Chromium helpers)."""
        left = []
        for _ in range(20):
            pids = marked_pids(value or self.run_id, name)
            if not pids:
                break
            left = [(pid, cmdline(pid)[:100]) for pid in pids]
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.25)
        return [] if quiet else left


def stale_runs():
    """Processes left by earlier bench runs whose bench process is gone: {pid: run id}."""
    stale = {}
    for pid, run_id in marked_pids(None).items():
        owner = run_id.split("-", 1)[0]
        if owner.isdigit() and int(owner) and not psutil.pid_exists(int(owner)):
            stale[pid] = run_id
    return stale
