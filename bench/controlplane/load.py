"""One load of a control-plane run: bundles submitted through the API, followed to their
end, and what is sampled meanwhile (each queue's length, the CPU of every part), with the
figures of the run."""
import threading
import time

import psutil

from bench.controlplane import QUEUES, ROLES
from bench.procs import wait_for
from bench.report import pct as _pct
from bench.report import utc_epoch
from bench.usage import CpuLedger, machine_busy_seconds, trees
from shootflow.states import FINAL_BUNDLE_STATES

FINAL = sorted(str(state) for state in FINAL_BUNDLE_STATES)


def pct(values, p):
    return _pct(values, p, empty=None)


class Monitor(threading.Thread):
    """Every `interval` s: each queue's length, and the CPU seconds of every process of each
    part (followed per process from its first sample to its last; a process born during
    the run counts from zero)."""

    def __init__(self, stack, interval=0.5):
        super().__init__(daemon=True)
        self.stack, self.interval = stack, interval
        self.timeline = []
        self.ledger = CpuLedger()
        self._halt = threading.Event()
        self.t0 = time.time()
        self.machine0 = machine_busy_seconds()

    def _cpu(self):
        self.ledger.note(psutil.Process(), "bench")
        roles = {pid: role for role, pid in self.stack.roots().items() if pid is not None}
        for root, procs in trees(roles).items():
            for proc in procs:
                self.ledger.note(proc, roles[root])

    def sample(self):
        waiting, unacked = self.stack.broker.lengths()
        self.timeline.append({"t": round(time.time() - self.t0, 2), **waiting,
                              "unacked": unacked})
        self._cpu()
        self.ledger.samples += 1

    def run(self):
        while not self._halt.wait(self.interval):
            self.sample()

    def begin(self):
        self.sample()
        self.start()

    def stop(self):
        self._halt.set()
        self.join(10)
        self.sample()
        wall = time.time() - self.t0
        busy = machine_busy_seconds() - self.machine0
        by_role = self.ledger.by_part(ROLES)
        measured = {role: pid is not None for role, pid in self.stack.roots().items()}
        return {"wall": wall, "cpu_s": by_role, "busiest_process_s": self.ledger.busiest(ROLES),
                "measured": {**measured, "bench": True}, "machine_busy_s": busy,
                "others_s": max(0.0, busy - sum(by_role.values())),
                "cores": psutil.cpu_count()}


# ---------------------------------------------------------------- one load

def counters(stack):
    """What the broker, the database and the logs have counted so far."""
    return {"broker_commands": stack.broker.commands(), "broker_memory": stack.broker.memory(),
            "broker_keys": stack.broker.keys(),
            "db_commits": stack.database.commits(), **stack.log_counts()}


def run_load(stack, label, bundles, size, tag, clients=1, timeout=None):
    """Submit `bundles` bundles of `size` URLs back to back (from `clients` clients at once),
    follow them to their end; the figures."""
    shots = bundles * size
    timeout = timeout or max(300, shots)
    before = counters(stack)
    monitor = Monitor(stack)
    monitor.begin()
    t0 = time.time()
    # 127.0.0.1 (allowed for the run) is never fetched: the stand-in loads nothing.
    lists = [[f"http://127.0.0.1:9/{tag}/{b}/{i}" for i in range(size)] for b in range(bundles)]
    if clients > 1:
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(clients) as pool:
            answers = list(pool.map(stack.post, lists))
    else:
        answers = [stack.post(urls) for urls in lists]
    ids, post_ms = [bundle_id for bundle_id, _ in answers], [ms for _, ms in answers]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack.alive()
        open_ = stack.database.query("SELECT count(*) AS n FROM bundle WHERE id IN :ids "
                                     "AND state NOT IN :final", ids=ids, final=list(FINAL))
        if open_[0]["n"] == 0:
            break
        time.sleep(0.25)
    else:
        raise RuntimeError(f"{label}: bundles not finished after {timeout} s; "
                           f"logs in {stack.logs}")
    # The work the run started is not over with its bundles (chord callbacks, thumbnails sent
    # twice): its CPU counts, and the next run starts on empty queues.
    ended = time.time()
    wait_for(lambda: stack.alive() and stack.idle(), timeout, 0.25, "the queues to drain")
    drain = time.time() - ended
    cpu = monitor.stop()
    time.sleep(1.0)  # PostgreSQL's statistics arrive a moment after the commits
    after = counters(stack)
    delta = {k: None if before[k] is None else after[k] - before[k] for k in before}
    rows = stack.database.query(
        "SELECT state, queued_at, dispatched_at, started_at, captured_at, finished_at, "
        "image_bytes, thumbnail_path FROM shot WHERE bundle_id IN :ids", ids=ids)
    return {**figures(stack, label, bundles, size, t0, post_ms, rows, cpu, monitor.timeline,
                      delta), "drain_s": drain}


def figures(stack, label, bundles, size, t0, post_ms, rows, cpu, timeline, delta):
    shots = len(rows)
    done = [r for r in rows if r["state"] == "done"]
    finished = sorted(utc_epoch(r["finished_at"]) for r in rows if r["finished_at"])
    wall = finished[-1] - t0
    lo, hi = finished[len(finished) // 10], finished[len(finished) * 9 // 10]
    steady = (len(finished) * 8 // 10) / (hi - lo) if hi > lo else None

    def phase(start, end):
        values = [(utc_epoch(r[end]) - utc_epoch(r[start])) * 1000 for r in done
                  if r[start] and r[end]]
        return {"p50": pct(values, 50), "p95": pct(values, 95)}

    thumbs = [(stack.media / r["thumbnail_path"]).stat().st_size for r in done
              if r["thumbnail_path"]]
    queues = {}
    for queue in (*QUEUES, "unacked"):
        values = [s[queue] for s in timeline if s[queue] is not None]
        if values:
            queues[queue] = {"max": max(values), "mean": sum(values) / len(values),
                             "nonempty": sum(1 for v in values if v) / len(values)}
    return {
        "label": label, "images": stack.images_concurrency, "bundles": bundles, "size": size,
        "shots": shots, "done": len(done), "wall_s": wall, "shots_per_s": shots / wall,
        "steady_shots_per_s": steady, "post_ms": {"p50": pct(post_ms, 50), "max": max(post_ms)},
        "phases_ms": {"queued_to_dispatched": phase("queued_at", "dispatched_at"),
                      "dispatched_to_started": phase("dispatched_at", "started_at"),
                      "started_to_captured": phase("started_at", "captured_at"),
                      "captured_to_done": phase("captured_at", "finished_at"),
                      "queued_to_done": phase("queued_at", "finished_at")},
        "cpu": cpu, "queues": queues, "timeline": timeline,
        **{f"{name}_per_shot": None if delta[name] is None else delta[name] / shots
           for name in ("broker_commands", "broker_memory", "broker_keys", "db_commits")},
        "image_bytes_per_shot": sum(r["image_bytes"] or 0 for r in done) / max(1, len(done)),
        "thumbnail_bytes_per_shot": sum(thumbs) / max(1, len(thumbs)),
        "log_errors": delta["errors"], "process_tasks_per_shot": delta["process_tasks"] / shots,
        "capture_tasks_per_shot": delta["capture_tasks"] / shots,
        "watchdog_resent": delta["watchdog_resent"],
    }


