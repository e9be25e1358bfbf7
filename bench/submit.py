"""Submitting a 1,000-URL bundle: POSTs of 1,000 distinct corpus URLs one after the other,
each cancelled as soon as its 202 arrives, each meeting idle workers and empty queues."""
import time

from bench import corpus
from bench.procs import wait_for
from bench.report import pct
from shootflow.states import FINAL_BUNDLE_STATES

SUBMIT_URLS = 1000


def submit_settings(runs):
    """Limits that let every POST of the submit section through even if none of its bundles
    were cancelled, with room for the rest of the run: the defaults refuse the second
    1,000-URL bundle within a minute (3,000 URLs a minute, 2,000 shots waiting)."""
    room = (runs + 2) * SUBMIT_URLS
    return {"SHOOTFLOW_MAX_BUNDLE_URLS": str(SUBMIT_URLS),
            "SHOOTFLOW_URLS_PER_MINUTE": str(room),
            "SHOOTFLOW_MAX_WAITING_SHOTS": str(room)}


def broker_idle(r, queues):
    """No task message waiting in any of the queues, and none taken but not acknowledged
    (every task is acked late, so a running one is still in kombu's `unacked` hash)."""
    return not r.hlen("unacked") and not any(r.llen(name) for name in queues)


def run_submits(stack, report, runs, variant_base=800):
    """POST runs bundles of SUBMIT_URLS distinct corpus URLs, one at a time, and cancel each
    as soon as its 202 arrives. Each POST starts with idle workers and an empty broker: the
    previous bundle has ended and its revoked tasks have been taken off the queues."""
    import redis

    import celeryconfig
    queues = [queue.name for queue in celeryconfig.task_queues]
    r = redis.Redis.from_url(stack.redis_url, socket_timeout=30)
    samples = []
    try:
        for k in range(runs):
            wait_for(lambda: broker_idle(r, queues), 300, 0.2, "the task queues to empty")
            urls = corpus.page_urls(stack.pages, SUBMIT_URLS, variant_base=variant_base + 10 * k)
            bundle_id, post_ms = stack.post_bundle(urls)
            status, body, cancel_ms = stack.cancel(bundle_id)
            if status != 202:
                raise RuntimeError(f"cancel of bundle {bundle_id} answered {status}: "
                                   f"{body[:300]!r}")
            t0 = time.monotonic()
            wait_for(lambda bundle_id=bundle_id: stack.bundle_row(bundle_id)["state"]
                     in FINAL_BUNDLE_STATES and broker_idle(r, queues), 300, 0.2,
                     f"bundle {bundle_id} to end and its tasks to leave the queues")
            drain_ms = (time.monotonic() - t0) * 1000
            samples.append({"bundle": bundle_id, "post": post_ms, "cancel": cancel_ms,
                            "drain": drain_ms})
            report.log(f"submit {k + 1}/{runs}: POST {post_ms:.0f} ms, cancel "
                       f"{cancel_ms:.0f} ms, workers idle again {drain_ms / 1000:.1f} s later")
    finally:
        r.close()
    return samples


def section(report, stack, runs):
    subs = run_submits(stack, report, runs)
    keys = [("post", f"POST /api/v1/bundles, {SUBMIT_URLS:,} URLs"),
            ("cancel", "POST /api/v1/bundles/<id>/cancel"),
            ("drain", "cancel answered → bundle ended, task queues empty")]
    post_p50 = pct([x["post"] for x in subs], 50)
    report.table(f"Submitting a {SUBMIT_URLS:,}-URL bundle, {len(subs)} runs, each "
                 "cancelled at once (ms)",
                 ["step", "p50", "p95", "max"],
                 [[name, pct([x[k] for x in subs], 50), pct([x[k] for x in subs], 95),
                   max(x[k] for x in subs)] for k, name in keys],
                 note=f"A POST takes {post_p50 / SUBMIT_URLS:.2f} ms per URL (p50), from "
                      "sending the request to reading the 202. Distinct corpus URLs for "
                      "every bundle; each POST starts with idle workers and empty task "
                      "queues. The stack runs with the limits raised for this section "
                      "(see settings above).")
    return subs
