"""Queue overhead: a worker of bench/noop.py (the product's celeryconfig, the same broker,
prefork concurrency 2) runs a group of no-op tasks, a 1000-task chord and a chord of 1000
two-task chains (a bundle's shape)."""
import time

from bench.procs import wait_for
from bench.report import median
from bench.stack import PY


def run_overhead(procs, stack, tasks, chord_size):
    from celery import chain, chord, group

    from bench import noop as noop_module
    worker = procs.start("noop", [PY, "-m", "celery", "-A", "bench.noop:app", "worker", "-Q",
                                  noop_module.QUEUE, "--concurrency", "2", "--hostname",
                                  "noop@%h", "--loglevel", "INFO"],
                         stack.env, stack.logs / "noop.log")
    app = noop_module.app
    app.conf.update(broker_url=stack.redis_url, result_backend=stack.redis_url)
    noop = noop_module.noop
    try:
        dest = f"noop@{stack.hostname}"
        wait_for(lambda: worker.alive() and app.control.ping(destination=[dest], timeout=1.0),
                 90, 0.5, "the no-op worker")
        group(noop.si() for _ in range(20)).apply_async().get(timeout=60)  # warm
        canvases = (
            ("group", tasks, lambda: group(noop.si() for _ in range(tasks))),
            ("chord", chord_size,
             lambda: chord(group(noop.si() for _ in range(chord_size)), noop.si())),
            ("chord_chains", chord_size,
             lambda: chord(group(chain(noop.si(), noop.s()) for _ in range(chord_size)),
                           noop.si())))
        out = {}
        for name, n, canvas in canvases:
            canvas = canvas()
            t0 = time.monotonic()
            res = canvas.apply_async()
            sent = time.monotonic()
            res.get(timeout=600)
            out[name] = {"n": n, "wall": time.monotonic() - t0, "send": sent - t0}
        return out
    finally:
        procs.stop(worker, timeout=30)


def section(args, report, procs, stack, capture_runs):
    """capture_runs: the whole stack's bundles so far, for a capture task's time beside."""
    over = run_overhead(procs, stack, tasks=500 if args.quick else 2000, chord_size=1000)
    rows = []
    for key, what in (("group", "no-op tasks (a group)"),
                      ("chord", "1000-task chord, no-op callback"),
                      ("chord_chains", "chord of 1000 chains of 2 (a bundle's shape)")):
        o = over[key]
        rows.append([what, o["n"], o["send"], o["wall"], o["n"] / o["wall"],
                     o["wall"] / o["n"] * 2 * 1000])
    capture_ms = median([r["phases"]["capture_p50_ms"] for r in capture_runs])
    report.table("Queue overhead: Celery no-op tasks on the same Redis broker, prefork "
                 "concurrency 2, the product's celeryconfig",
                 ["what", "items", "send s", "wall s", "items/s", "worker ms per item"],
                 rows,
                 note=f"For scale: a capture task takes {capture_ms:.0f} ms (p50, whole "
                      "stack). 'send s' is the time apply_async() takes in the caller "
                      "(the web request, for a bundle); 'worker ms per item' = wall × 2 "
                      "processes ÷ items.")
    return over
