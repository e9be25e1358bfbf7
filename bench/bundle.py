"""One bundle through the whole stack: submitted through the API, followed to its end, with
the CPU and memory of every process of the stack meanwhile, and checked: nothing lost or
duplicated, every capture of its own page."""
import time
from collections import Counter

from bench import corpus
from bench.api import WebProbe, http_request
from bench.report import pct, utc_epoch
from bench.usage import Sampler
from shootflow.states import FINAL_BUNDLE_STATES as FINAL


def run_bundle(stack, urls, report, label, probe=True, timeout=None, profile=None):
    """Submit one bundle through the API and follow it to its end; returns the figures.
    probe: one person watches its page meanwhile; profile: a bench.profiling.Profile."""
    n = len(urls)
    timeout = timeout or max(120, n * 6)
    # CPU: every process of the stack; memory: the workers and their browsers
    sampler = Sampler(stack.roots, stack.worker_roots, names=stack.root_names)
    sampler.begin()
    t0 = time.time()
    bundle_id, post_ms = stack.post_bundle(urls)
    web = WebProbe(stack.web_port, f"/bundles/{bundle_id}", n) if probe else None
    if web:
        web.start()
    if profile:
        profile.start(stack)
    row = follow(stack, bundle_id, timeout)
    t_seen = time.time()
    if profile:
        profile.stop()
    web_stats = web.stop() if web else None
    memory = sampler.stop()
    cpu = sampler.cpu()
    if not row or row["state"] not in FINAL:
        raise RuntimeError(f"{label}: bundle {bundle_id} not finished after {timeout} s "
                           f"(state {row['state'] if row else None}); logs in {stack.logs}")
    if web_stats is not None:
        web_stats.update(quiet_page(stack, bundle_id))
    finished = utc_epoch(row["finished_at"])
    wall = finished - t0
    shots = stack.shot_rows(bundle_id)
    check = verify(stack, shots, urls)
    phases = shot_phases(shots, t0)
    capture_busy = sum(p["capture"] for p in phases["per_shot"])
    report.log(f"{label}: {n} pages in {wall:.1f} s = {n / wall:.2f} pages/s, "
               f"{check['summary']}")
    return {
        "label": label, "mode": "stack", "n": n, "bundle": bundle_id, "state": row["state"],
        "wall": wall, "pps": n / wall, "post_ms": post_ms, "seen_lag": t_seen - finished,
        "cpu_per_page": cpu / n, "others_cores": sampler.others_cores(wall),
        "cpu_by_part": {part: seconds / n for part, seconds in sampler.cpu_by_part().items()},
        "capture_slot_use": capture_busy / (2 * wall), "memory": memory, "web": web_stats,
        "check": check, "phases": {k: v for k, v in phases.items() if k != "per_shot"},
    }


def follow(stack, bundle_id, timeout):
    """The bundle's row once it is over, or as it is after timeout seconds."""
    deadline = time.monotonic() + timeout
    row = None
    while time.monotonic() < deadline:
        row = stack.bundle_row(bundle_id)
        if row and row["state"] in FINAL:
            break
        time.sleep(0.2)
    return row


def quiet_page(stack, bundle_id):
    """The bundle page's p50, full and htmx poll, once it is finished and all is quiet."""
    quiet = {"full": [], "htmx": []}
    for k in range(12):
        kind = "full" if k % 2 == 0 else "htmx"
        status, _, ms = http_request(stack.web_port, "GET", f"/bundles/{bundle_id}",
                                     headers={"HX-Request": "true"} if kind == "htmx" else {})
        if status == 200:
            quiet[kind].append(ms)
    return {"quiet_full_p50": pct(quiet["full"], 50), "quiet_htmx_p50": pct(quiet["htmx"], 50)}


def verify(stack, shots, urls):
    """No lost or duplicated shots: one row per URL, every one done with its own page's
    title, image and thumbnail on disk, and each task run exactly once."""
    media = stack.work / "media"
    expected = {u: corpus.expected_title(u) for u in urls}
    by_url = Counter(s["url"] for s in shots)
    problems = Counter()
    for s in shots:
        if s["state"] != "done":
            problems[f"state {s['state']}: {s['error']}"] += 1
        elif s["title"] != expected.get(s["url"]):
            problems["wrong title"] += 1
        elif not (s["image_path"] and (media / s["image_path"]).is_file()
                  and s["thumbnail_path"] and (media / s["thumbnail_path"]).is_file()):
            problems["missing file"] += 1
    runs = stack.task_runs([s["id"] for s in shots])
    lost = len(set(urls) - set(by_url)) + sum(1 for s in shots if s["state"] != "done")
    dup_rows = sum(c - 1 for c in by_url.values() if c > 1) + len(set(by_url) - set(urls))
    dup_captures = sum(c - 1 for c in runs["capture"].values() if c > 1)
    dup_process = sum(c - 1 for c in runs["process"].values() if c > 1)
    missing_runs = sum(1 for s in shots if runs["capture"][s["id"]] == 0)
    ok = (len(shots) == len(urls) and not problems and not lost and not dup_rows
          and not dup_captures and not dup_process and not missing_runs)
    summary = ("all done, none lost or duplicated" if ok else
               f"PROBLEMS: rows={len(shots)}/{len(urls)} lost={lost} dup_rows={dup_rows} "
               f"dup_captures={dup_captures} dup_process={dup_process} "
               f"no_capture_log={missing_runs} {dict(problems)}")
    return {"ok": ok, "rows": len(shots), "lost": lost, "dup_rows": dup_rows,
            "dup_captures": dup_captures, "dup_process": dup_process,
            "problems": dict(problems), "summary": summary}


def shot_phases(shots, t0):
    """Where each shot's time went (from its row's timestamps), and the p50/p95 of each."""
    per_shot = []
    for s in shots:
        queued, started = utc_epoch(s["queued_at"]), utc_epoch(s["started_at"])
        captured, finished = utc_epoch(s["captured_at"]), utc_epoch(s["finished_at"])
        if None in (queued, started, captured, finished):
            continue
        per_shot.append({"wait": started - t0, "capture": captured - started,
                         "thumb": finished - captured, "engine_ms": s["capture_ms"] or 0})
    out = {"per_shot": per_shot}
    for key in ("capture", "thumb"):
        values = [p[key] * 1000 for p in per_shot]
        out[key + "_p50_ms"], out[key + "_p95_ms"] = pct(values, 50), pct(values, 95)
    engine = [p["engine_ms"] for p in per_shot]
    out["engine_p50_ms"] = pct(engine, 50)
    return out
