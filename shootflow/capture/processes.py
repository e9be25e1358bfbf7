"""Process-table work for browsers: killing a browser's tree, and reaping orphaned ones."""
import logging
import re
import shutil
from pathlib import Path

import psutil

log = logging.getLogger(__name__)
PROFILE_PREFIX = "shootflow-chromium-"
# A browser's profile and disk cache folders, named after the process that owns them.
_FOLDER = re.compile(r"--(?:user-data|disk-cache)-dir=(\S*/" + PROFILE_PREFIX + r"(\d+)-\S*)")


def kill_tree(pid, timeout=5):
    """Kill pid and every process under it (ChromeDriver and its Chromium); wait for them."""
    try:
        root = psutil.Process(pid)
        procs = root.children(recursive=True) + [root]
    except psutil.NoSuchProcess:
        return
    _kill(procs, timeout)


def _kill(procs, timeout):
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=timeout)


def reap_orphans():
    """Kill browsers whose owning process has died, and their ChromeDriver; returns how many.

    A capture process killed outright cannot quit its browser, so each new capture process
    calls this before it starts its own."""
    orphans, profiles = [], set()
    for proc in psutil.process_iter(["name", "cmdline", "ppid"]):
        try:
            name, cmdline = proc.info["name"], " ".join(proc.info["cmdline"] or ())
            if name == "chromedriver" and proc.info["ppid"] == 1:
                orphans.append(proc)
                continue
            folders = _FOLDER.findall(cmdline) if name in ("chromium", "chrome") else []
            if folders and not psutil.pid_exists(int(folders[0][1])):
                orphans.append(proc)
                profiles.update(folder for folder, _ in folders)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    _kill(orphans, timeout=5)
    for profile in profiles:
        shutil.rmtree(Path(profile), ignore_errors=True)
    if orphans:
        log.warning("reaped %d orphaned browser processes", len(orphans))
    return len(orphans)
