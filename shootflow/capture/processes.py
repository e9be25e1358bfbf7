"""Process-table work for browsers: killing a browser's tree, and reaping orphaned ones."""
import logging
import os
import re
import shutil
from pathlib import Path

import psutil

log = logging.getLogger(__name__)
PROFILE_PREFIX = "shootflow-chromium-"
# What reading or signalling another process can meet at any moment: it has exited, it is a
# zombie not yet reaped (ZombieProcess is a NoSuchProcess), or it belongs to another user.
GONE = (psutil.NoSuchProcess, psutil.AccessDenied)
OWNER_VAR = "SHOOTFLOW_BROWSER_OWNER"
# Process names (/proc's comm, 15 characters at most) of ChromeDriver, Chromium and helpers.
BROWSER_NAMES = frozenset(("chromedriver", "chromium", "chrome", "chrome_crashpad"))
# A browser's profile folder, named after the process that owns it.
_FOLDER = re.compile(r"--user-data-dir=(\S*/" + PROFILE_PREFIX + r"(\d+)-\S*)")


def tree(pid):
    """pid's process and every process under it, root last; [] when pid is gone."""
    try:
        root = psutil.Process(pid)
        return [*root.children(recursive=True), root]
    except GONE:
        return []


def read(proc, attribute, default=None):
    """proc.attribute() (name, cmdline, status ...), or default when it can't be read."""
    try:
        return getattr(proc, attribute)()
    except GONE:
        return default


def kill_tree(pid, timeout=5):
    """Kill pid and every process under it (ChromeDriver and its Chromium); wait for them."""
    _kill(tree(pid), timeout)


def _kill(procs, timeout):
    for proc in procs:
        try:
            proc.kill()
        except GONE:
            pass
    psutil.wait_procs(procs, timeout=timeout)


def owner_environment():
    """The environment to start ChromeDriver with: it and every process under it carry the
    pid of the shootflow process that owns them, so reap_orphans() knows its own."""
    return {**os.environ, OWNER_VAR: str(os.getpid())}


def _owner(proc):
    """The pid of the shootflow process that started proc's browser; None if not ours."""
    owner = (read(proc, "environ") or {}).get(OWNER_VAR, "")
    return int(owner) if owner.isdigit() else None


def reap_orphans():
    """Kill browsers whose owning process has died, and their ChromeDriver; returns how many.

    A capture process killed outright cannot quit its browser, so each new capture process
    calls this before it starts its own. Only processes marked with a dead owner's pid are
    touched: another program's ChromeDriver, a zombie, another user's process are left be."""
    orphans, folders = [], set()
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] not in BROWSER_NAMES:
            continue
        owner = _owner(proc)
        if owner is None or psutil.pid_exists(owner):
            continue
        orphans.append(proc)
        folders.update(f for f, _ in _FOLDER.findall(" ".join(read(proc, "cmdline") or ())))
    _kill(orphans, timeout=5)
    for folder in folders:
        shutil.rmtree(Path(folder), ignore_errors=True)
    if orphans:
        log.warning("reaped %d orphaned browser processes", len(orphans))
    return len(orphans)
