"""Anatomies, each timed step by step in one process of bench.baseline with nothing else of
the bench running: a capture (the product's Browser.capture, Chromium's navigation timing,
the images worker's Pillow work, starting and quitting a browser), and a bundle's
submission (what POST /api/v1/bundles spends, and the worker's dispatch after it)."""
import json
import time
import uuid

from bench import corpus
from bench.report import pct
from bench.stack import PY


def child_result(r, key, child, timeout, what):
    """The JSON result a bench child pushes to `key:results`, waiting while it runs."""
    item, deadline = None, time.monotonic() + timeout
    while item is None and time.monotonic() < deadline:
        item = r.blpop([f"{key}:results"], timeout=1)
        if item is None and not child.alive():
            item = r.blpop([f"{key}:results"], timeout=1)
            break
    if item is None:
        raise RuntimeError(f"{what} gave no result; see {child.log_path}")
    result = json.loads(item[1])
    if "failed" in result:
        raise RuntimeError(f"{what} failed: {result['failed']}")
    return result


def run_child(procs, stack, mode, urls, options, timeout, what, env=None):
    """Run bench.baseline in mode on urls (handed over in Redis) and return its result."""
    import redis
    r = redis.Redis.from_url(stack.redis_url, socket_timeout=None)
    key = f"bench:{mode}:{uuid.uuid4().hex[:8]}"
    r.set(f"{key}:urls", json.dumps(urls))
    child = procs.start(mode, [PY, "-m", "bench.baseline", "--mode", mode, "--redis",
                               stack.redis_url, "--key", key, "--out", str(stack.work / mode),
                               *options], env or stack.env, stack.logs / f"{mode}.log")
    try:
        return child_result(r, key, child, timeout, what)
    finally:
        procs.stop(child, timeout=30)
        r.delete(f"{key}:urls", f"{key}:results")
        r.close()


def run_anatomy(procs, stack, urls, restarts):
    return run_child(procs, stack, "anatomy", urls,
                     ["--warm-url", corpus.warm_urls(stack.pages, 1, "a")[0], "--budget", "300",
                      "--restarts", str(restarts)], 420, "the anatomy run")


def section(args, report, procs, stack):
    """The anatomy of a capture, 40 pages (quick: 15) and 5 browser restarts (quick: 3)."""
    urls = corpus.page_urls(stack.pages, 15 if args.quick else 40, variant_base=600)
    anat = run_anatomy(procs, stack, urls, restarts=3 if args.quick else 5)
    rows = [[name, pct(v, 50), pct(v, 95), len(v)] for name, v in anat["steps"].items()
            if "kB" not in name]
    rows += [[f"Chromium navigation timing: {k}", pct(v, 50), pct(v, 95), len(v)]
             for k, v in anat["nav"].items() if k != "resources"]
    sizes = {k: pct(v, 50) for k, v in anat["steps"].items() if "kB" in k}
    report.table("Anatomy of a capture: the product's Browser.capture, one process, "
                 "nothing else from the bench running (ms)", ["step", "p50", "p95", "n"],
                 rows,
                 note="Sizes p50: " + ", ".join(
                     f"{k.replace(' kB', '').replace('png', 'product PNG')} {v:.0f} kB"
                     for k, v in sizes.items()) + "; resources per page p50 "
                      f"{pct(anat['nav']['resources'], 50):.0f}. Navigation timing is "
                      "from navigationStart, as Chromium reports it for the page. "
                      "The alternatives were taken right after each capture, of the same "
                      "viewport, and are not part of the total.")
    return anat


# ---------------------------------------------------------------- a submission

def run_submit_anatomy(procs, stack, urls):
    """Time the steps of a bundle submission in a process whose broker is an unread Redis
    database (db 15 of the bench's redis-server), so nothing gets captured."""
    import redis
    side_url = stack.redis_url.rsplit("/", 1)[0] + "/15"
    env = {**stack.env, "SHOOTFLOW_BROKER_URL": side_url, "SHOOTFLOW_RESULT_BACKEND": side_url}
    try:
        return run_child(procs, stack, "submit", urls, ["--warm-url", "-"], 600,
                         "the submit anatomy", env)
    finally:
        side = redis.Redis.from_url(side_url, socket_timeout=None)
        side.flushdb()
        side.close()


def submit_section(report, procs, stack, size):
    """What POST /api/v1/bundles spends on a bundle of size corpus URLs, step by step."""
    sub = run_submit_anatomy(procs, stack, corpus.page_urls(stack.pages, size, variant_base=390))
    total = sub["parse"] + sub["rows"] + sub["send"]
    steps = [("parse_url_list (normalize, check every destination)", sub["parse"]),
             ("create_bundle + commit (the rows)", sub["rows"]),
             ("send_bundle (one bundles.dispatch message)", sub["send"]),
             ("request total", total),
             ("then, in a worker: dispatch (build the chord, send it, note the rows)",
              sub["dispatch"])]
    report.table(f"What POST /api/v1/bundles spends on {size} URLs (the same steps "
                 "in one process, nothing else running from the bench), and what the "
                 "worker's dispatch then does",
                 ["step", "ms", "ms per URL"],
                 [[name, seconds * 1000, seconds * 1000 / size] for name, seconds in steps])
    return sub
