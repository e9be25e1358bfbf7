"""Latency of a one-URL bundle, from the POST to the thumbnail served by the web app: on
idle workers (latency), while another client's big bundle runs (fairness), and while
hundreds of watch runs wait on the scheduled lane (scheduled)."""
import json
import time

from bench import corpus
from bench.api import JSON, http_request
from bench.procs import wait_for
from bench.report import pct, utc_epoch
from shootflow.states import FINAL_BUNDLE_STATES, FINAL_SHOT_STATES

STEPS = [("total", "submit → thumbnail served (total)"),
         ("post", "POST /api/v1/bundles"),
         ("to_start", "submit → capture task starts"),
         ("capture", "capture task (claim row → PNG + row)"),
         ("engine", "  of which Browser.capture"),
         ("thumb", "captured → thumbnail done"),
         ("seen", "thumbnail done → client sees it (20 ms polling)")]


def one_url_latency(stack, url, timeout=60):
    """Submit a one-URL bundle and poll the API until its thumbnail is served; the figures."""
    t0m, t0 = time.monotonic(), time.time()
    bundle_id, post_ms = stack.post_bundle([url])
    deadline = time.monotonic() + timeout
    thumb = shot = None
    while time.monotonic() < deadline:
        status, body, _ = http_request(stack.web_port, "GET", f"/api/v1/bundles/{bundle_id}")
        shot = json.loads(body)["shots"][0] if status == 200 else None
        if shot and shot["thumbnail_url"]:
            thumb = shot["thumbnail_url"]
            break
        if shot and shot["state"] in FINAL_SHOT_STATES:
            break
        time.sleep(0.02)
    if not thumb:
        raise RuntimeError(f"{url}: no thumbnail within {timeout} s ({shot})")
    status, data, _ = http_request(stack.web_port, "GET", thumb)
    latency = time.monotonic() - t0m
    if status != 200 or not data.startswith(b"\xff\xd8"):
        raise RuntimeError(f"{url}: thumbnail answered {status}")
    row = stack.shot_rows(bundle_id)[0]
    started, captured = utc_epoch(row["started_at"]), utc_epoch(row["captured_at"])
    finished = utc_epoch(row["finished_at"])
    return {"total": latency * 1000, "post": post_ms,
            "to_start": (started - t0) * 1000, "capture": (captured - started) * 1000,
            "engine": row["capture_ms"] or 0, "thumb": (finished - captured) * 1000,
            "seen": (t0 + latency - finished) * 1000}


def run_latency(stack, runs, variant_base=500):
    """One-URL bundles, one at a time: API submit -> thumbnail served by the web app."""
    samples = []
    for url in corpus.page_urls(stack.pages, runs, variant_base=variant_base):
        samples.append(one_url_latency(stack, url))
        time.sleep(0.3)
    return samples


def section(report, stack, runs):
    lat = run_latency(stack, runs)
    report.table(f"Latency of a one-URL bundle, {len(lat)} runs, warm workers (ms)",
                 ["step", "p50", "p95", "max"],
                 [[name, pct([x[k] for x in lat], 50), pct([x[k] for x in lat], 95),
                   max(x[k] for x in lat)] for k, name in STEPS])
    return lat


def busy_runs(stack, variant_base, runs, waiting):
    """One-URL bundles one at a time while something else fills the capture side; each
    with waiting(): how much of that was still waiting when it was submitted."""
    busy = []
    for url in corpus.page_urls(stack.pages, runs, variant_base=variant_base):
        waiting_now = waiting()
        busy.append({**one_url_latency(stack, url, timeout=600), "waiting": waiting_now})
        time.sleep(0.3)
    return busy


def busy_table(report, title, waiting_header, idle, busy, note):
    idle_p50 = pct([x["total"] for x in idle], 50)
    report.table(title, ["run", waiting_header, "submit → thumbnail", "submit → capture starts",
                         "÷ idle p50"],
                 [[i + 1, x["waiting"], x["total"], x["to_start"], x["total"] / idle_p50]
                  for i, x in enumerate(busy)],
                 note=f"Idle p50 {idle_p50:.0f} ms. {note}")


# ---------------------------------------------------------------- fairness

def run_fairness(stack, big, runs, idle):
    """One-URL bundles submitted while a big bundle fills the capture lane, against idle."""
    big_id, _ = stack.post_bundle(corpus.page_urls(stack.pages, big, variant_base=700))
    wait_for(lambda: sum(r["state"] == "done" for r in stack.shot_rows(big_id)) >= 10, 300, 0.5,
             "the big bundle's captures to flow")
    busy = busy_runs(stack, 720, runs,
                     lambda: sum(r["state"] == "queued" for r in stack.shot_rows(big_id)))
    stack.cancel(big_id)
    wait_for(lambda: stack.bundle_row(big_id)["state"] in FINAL_BUNDLE_STATES, 300, 0.5,
             "the big bundle to end after its cancel")
    return {"idle": idle, "busy": busy, "big": big}


def fairness_section(report, stack, lat, full):
    """lat: the latency section's runs, the idle figures (ten more runs if it did not run)."""
    idle = lat or run_latency(stack, 10, variant_base=600)
    fair = run_fairness(stack, 1000 if full else 200, 5, idle)
    busy_table(report, f"Fairness: a one-URL bundle while a {fair['big']}-URL bundle runs (ms)",
               "shots of the big bundle still queued", idle, fair["busy"],
               "Every bundle's first shots go to the "
               "interactive lane (queue capture), the rest of a big bundle to capture.bulk; "
               "the capture worker takes from the two in turn, the interactive worker "
               "only from capture. Target: within 2x idle.")
    return fair


# ---------------------------------------------------------------- the scheduled lane

def make_due_watches(stack, watches):
    """Watches made through the API, then due at once in their rows: beat's next tick
    starts them all, as when hundreds share a minute. Their ids."""
    made = []
    for url in corpus.page_urls(stack.pages, watches, variant_base=740):
        status, body, _ = http_request(stack.web_port, "POST", "/api/v1/watches",
                                       json.dumps({"url": url, "schedule": "@daily"}), JSON)
        if status != 201:
            raise RuntimeError(f"POST /api/v1/watches answered {status}: {body[:300]!r}")
        made.append(json.loads(body)["id"])
    marks = ",".join("?" * len(made))
    stack.db.execute(f"UPDATE watch SET next_run_at = datetime('now', '-1 minute') "
                     f"WHERE id IN ({marks})", made)
    stack.db.commit()
    return made


def run_scheduled(stack, watches, runs, idle):
    """One-URL bundles submitted while many watches' runs wait on the scheduled lane, against
    idle."""
    stack.start_procfile("beat")  # stopped with the rest of the stack
    made = make_due_watches(stack, watches)
    marks = ",".join("?" * len(made))
    open_runs = ("SELECT count(*) FROM bundle WHERE watch_id IN ({}) AND state IN "
                 "('queued', 'running')").format(marks)
    started = lambda: stack.db.execute(  # noqa: E731
        "SELECT count(*) FROM watch_run WHERE watch_id IN ({})".format(marks), made
    ).fetchone()[0]
    wait_for(lambda: started() == len(made), 120, 0.5, "beat's tick to start every run")

    def still_open():
        waiting = stack.db.execute(open_runs, made).fetchone()[0]
        stack.db.commit()
        return waiting
    busy = busy_runs(stack, 760, runs, still_open)
    for watch_id in made:
        http_request(stack.web_port, "DELETE", f"/api/v1/watches/{watch_id}")
    rows = stack.db.execute("SELECT id FROM bundle WHERE state IN ('queued', 'running')")
    for (bundle_id,) in rows.fetchall():
        stack.cancel(bundle_id)
    stack.db.commit()
    return {"idle": idle, "busy": busy, "watches": watches}


def scheduled_section(report, stack, lat):
    idle = lat or run_latency(stack, 10, variant_base=600)
    sched = run_scheduled(stack, 300, 5, idle)
    busy_table(report, f"A one-URL bundle while {sched['watches']} watch runs are queued (ms)",
               "watch runs still open", idle, sched["busy"],
               "Watch runs go to capture.scheduled, which the "
               "capture worker takes in turn with the others and the interactive worker "
               "never does.")
    return sched
