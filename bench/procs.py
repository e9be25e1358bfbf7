"""The processes the bench starts, how it stops every one of them, and what /proc says
about them (CPU seconds, memory). Linux only; no extra packages.

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

from shootflow.testing.servers import free_port, wait_for  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent


def procfile():
    """{name: command} of every entry of the repository's Procfile."""
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if ":" in line and not line.lstrip().startswith("#"):
            name, command = line.split(":", 1)
            entries[name.strip()] = command.strip()
    return entries
MARK = "SHOOTFLOW_BENCH_RUN"
PROC_MARK = "SHOOTFLOW_BENCH_PROC"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------- /proc readers

def read_stat(pid):
    """(ppid, own cpu seconds, rss kB, start time) or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read().decode()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    # fields[0] is field 3 (state): ppid=4, utime=14, stime=15, starttime=22, rss=24
    ppid = int(fields[1])
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return ppid, cpu, int(fields[21]) * PAGE_KB, int(fields[19])


def snapshot():
    """pid -> (ppid, own cpu s, rss kB, start time) for every process now."""
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            info = read_stat(int(name))
            if info:
                table[int(name)] = info
    return table


def tree(roots, snap):
    """The roots that are alive and all their descendants."""
    children = {}
    for pid, (ppid, *_) in snap.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), [r for r in roots if r in snap]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, ()))
    return found


def pss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def machine_busy_seconds():
    """CPU seconds the whole machine has spent busy (all cores), from /proc/stat."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / CLK_TCK


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def marked_pids(value, name=MARK):
    """Processes whose environment carries name=value (any value when value is None)."""
    wanted = f"{name}={value}".encode() if value else f"{name}=".encode()
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as handle:
                env = handle.read().split(b"\0")
        except OSError:
            continue
        for item in env:
            if item.startswith(wanted):
                found[int(name)] = item.split(b"=", 1)[1].decode()
                break
    return found


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

    def env(self, extra=None):
        env = dict(os.environ)
        env[MARK] = self.run_id
        env.update(extra or {})
        return env

    def start(self, name, argv, env, log_path, **kwargs):
        tag = f"{name}-{uuid.uuid4().hex[:8]}"
        process = Process(name, argv, {**env, PROC_MARK: tag}, log_path, **kwargs)
        process.tag = tag
        self.started.append(process)
        return process

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
        owner = int(run_id.split("-", 1)[0]) if run_id.split("-", 1)[0].isdigit() else 0
        if owner and not Path(f"/proc/{owner}").exists():
            stale[pid] = run_id
    return stale
