"""What processes use, read with psutil: CPU seconds and memory of process trees, followed
process by process, and the machine's busy time.

A process is followed by its pid and start time from the first sample that sees it to its
last: one that dies loses at most its last interval, one born during the window counts
from zero, and one that leaves its tree without being reaped (an orphaned Chromium helper)
keeps what it used, where reaped-children counters would take its CPU out of the sum.
"""
import os
import threading

import psutil

from shootflow.capture.processes import GONE, read


def machine_busy_seconds():
    """CPU seconds the whole machine has spent busy (all cores; idle and iowait left out)."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + t.irq + t.softirq + t.steal


def trees(roots):
    """{root pid: [the root's process, then every process under it]} for the roots that are
    alive, from one pass over the process table (cheaper than a pass per root when the
    sampling is twice a second)."""
    procs, children = {}, {}
    for proc in psutil.process_iter(["ppid"]):
        procs[proc.pid] = proc
        children.setdefault(proc.info["ppid"], []).append(proc.pid)
    found = {}
    for root in roots:
        if root not in procs or root in found:
            continue
        members, todo = [], [root]
        while todo:
            pid = todo.pop()
            members.append(procs[pid])
            todo.extend(children.get(pid, ()))
        found[root] = members
    return found


class CpuLedger:
    """Each process's own user + system seconds, from the sample that first saw it to its
    last, and the part of the whole it belongs to."""

    def __init__(self):
        self.first, self.last, self.part = {}, {}, {}
        self.samples = 0

    def note(self, proc, part):
        """Note proc's CPU time now; part is its part's name, or a callable giving it (called
        once per process). False when proc could not be read (gone)."""
        try:
            with proc.oneshot():
                key = (proc.pid, proc.create_time())
                times = proc.cpu_times()
        except GONE:
            return False
        seconds = times.user + times.system
        if key not in self.first:  # born during the window: all of it counts
            self.first[key] = seconds if self.samples == 0 else 0.0
            self.part[key] = part() if callable(part) else part
        self.last[key] = seconds
        return True

    def used(self, key):
        return self.last[key] - self.first[key]

    def total(self):
        return sum(self.used(key) for key in self.last)

    def by_part(self, parts=()):
        """{part: CPU seconds}, every part of parts present, at 0.0 if it used nothing."""
        out = dict.fromkeys(parts, 0.0)
        for key in self.last:
            out[self.part[key]] = out.get(self.part[key], 0.0) + self.used(key)
        return out

    def busiest(self, parts=()):
        """{part: CPU seconds of its busiest single process}."""
        out = dict.fromkeys(parts, 0.0)
        for key in self.last:
            out[self.part[key]] = max(out.get(self.part[key], 0.0), self.used(key))
        return out


class Sampler(threading.Thread):
    """CPU seconds (per process, see above), peak RSS (every 0.5 s) and peak PSS (every 10 s)
    of process trees. cpu_roots and mem_roots are callables giving root pids; names, when
    given, a callable giving {root pid: name}, to split the CPU by part."""

    def __init__(self, cpu_roots, mem_roots, interval=0.5, limit=14400, pss_every=20,
                 names=None):
        super().__init__(daemon=True)
        self.cpu_roots, self.mem_roots = cpu_roots, mem_roots
        self.names = names
        self.interval, self.limit = interval, limit
        self.pss_every = pss_every
        self.peak_rss = self.peak_pss = 0
        self.peak_procs = 0
        self.ledger = CpuLedger()
        self.busy0 = self.own0 = self.busy = self.own = 0.0
        self._lock = threading.Lock()
        self._halt = threading.Event()

    def sample(self):
        with self._lock:
            cpu_roots, mem_roots = self.cpu_roots(), self.mem_roots()
            found = trees([*cpu_roots, *mem_roots])
            for root in cpu_roots:
                for proc in found.get(root, ()):
                    self.ledger.note(proc, lambda: self._part(proc, root))
            procs = {p.pid: p for root in mem_roots for p in found.get(root, ())}
            self.peak_rss = max(self.peak_rss, sum(
                getattr(read(p, "memory_info"), "rss", 0) for p in procs.values()) // 1024)
            if self.ledger.samples % self.pss_every == 0:  # smaps costs ~10 ms per Chromium
                self.peak_pss = max(self.peak_pss, sum(
                    getattr(read(p, "memory_full_info"), "pss", 0)
                    for p in procs.values()) // 1024)
            self.peak_procs = max(self.peak_procs, len(procs))
            self.ledger.samples += 1

    def _part(self, proc, root):
        """Chromium (and ChromeDriver) wherever it runs, else the root it runs under."""
        if (read(proc, "name") or "").startswith("chrom"):
            return "Chromium + ChromeDriver"
        return self.names().get(root, "other") if self.names else "other"

    def begin(self):
        """Start sampling, noting the machine's busy time and the bench's own CPU so far."""
        self.busy0, self.own0 = machine_busy_seconds(), sum(os.times()[:2])
        self.sample()
        self.start()

    def cpu(self):
        return self.ledger.total()

    def others_cores(self, wall):
        """Cores that processes outside the trees and the bench used during the window
        (after stop())."""
        others = self.busy - self.cpu() - self.own
        return max(0.0, others / wall)

    def cpu_by_part(self):
        return self.ledger.by_part()

    def run(self):
        for _ in range(self.limit):
            if self._halt.is_set():
                break
            self.sample()
            self._halt.wait(self.interval)

    def stop(self):
        """Stop sampling (one last sample); the peaks of memory, in MB, and of processes."""
        self._halt.set()
        self.join(10)
        self.sample()
        self.busy = machine_busy_seconds() - self.busy0
        self.own = sum(os.times()[:2]) - self.own0
        return {"peak_rss_mb": self.peak_rss / 1024, "peak_pss_mb": self.peak_pss / 1024,
                "peak_procs": self.peak_procs}
