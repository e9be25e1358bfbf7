"""Throughput, side by side: the same N pages through the whole stack and through the
designs it is compared with (bench/baseline.py's loops, two processes taking URLs from a
Redis list as the capture worker's two processes take tasks)."""
import dataclasses
import json
import shutil
import subprocess
import time
import uuid

from bench import corpus
from bench.bundle import run_bundle
from bench.procs import wait_for
from bench.report import median, pct
from bench.stack import PY
from bench.usage import Sampler

NAMES = {"stack": "shootflow, whole stack (API → chord → capture → thumbnail → rows)",
         "bare": "(a) bare loop, one reused driver per process",
         "bare-noguard": "(a) bare loop with the egress guard (proxy) off",
         "engine": "product engine alone (BrowserSession.capture, no queue)",
         "naive": "(b) new driver per capture"}
SHORT_NAMES = {"stack": "whole stack", "bare": "(a) bare loop", "bare-noguard": "(a) no guard",
               "engine": "engine alone", "naive": "(b) driver per capture"}


def guard_optional():
    """True when this version of the engine has an egress guard that options can turn off."""
    from shootflow.capture import BrowserOptions
    return "egress_guard" in {f.name for f in dataclasses.fields(BrowserOptions)}


def pages_per_second(runs):
    """{design: median pages/s of its rounds}."""
    return {m: median([r["pps"] for r in rounds]) for m, rounds in runs.items()}


def section(args, report, procs, stack):
    """Every design, args.rounds rounds of args.n pages, the order rotating each round; the
    two tables. Returns {design: [figures of each round]}."""
    modes = ["stack", "bare", "engine", "naive"]
    if guard_optional():
        modes.insert(2, "bare-noguard")
    if args.designs:
        modes = [m for m in modes if m == "stack" or m in args.designs.split(",")]
    runs = {m: [] for m in modes}
    for rnd in range(args.rounds):
        urls = corpus.page_urls(stack.pages, args.n, variant_base=100 + rnd)
        order = modes[rnd % len(modes):] + modes[:rnd % len(modes)]
        for mode in order:
            label = f"round {rnd + 1} {mode} N={args.n}"
            if mode == "stack":  # nobody watching: the same work as the baselines
                runs[mode].append(run_bundle(stack, urls, report, label, probe=False))
            else:
                runs[mode].append(run_baseline(procs, stack, mode, urls, report, label))
    pps = pages_per_second(runs)
    report.table(
        f"Throughput, N={args.n} pages, 2 capture processes, {args.rounds} round(s)",
        ["design", "pages/s per round", "pages/s (median)", "CPU s/page", "peak PSS MB",
         "others' load (cores)", "shootflow ÷ this", "all correct"],
        [[NAMES[m], " / ".join(f"{r['pps']:.2f}" for r in runs[m]), pps[m],
          median([r["cpu_per_page"] for r in runs[m]]),
          median([r["memory"]["peak_pss_mb"] for r in runs[m]]),
          median([r["others_cores"] for r in runs[m]]),
          pps["stack"] / pps[m] if m != "stack" else 1.0,
          "yes" if all(r["check"]["ok"] for r in runs[m]) else "NO"] for m in modes],
        note="Same pages for every design, fresh image URLs each round; every design "
             "starts with a warm browser cache for the shared assets (/warm.html).\n"
             "CPU s/page counts every process of the design (workers, web, Chromium, "
             "redis, page server); others' load is the CPU that processes outside the "
             "bench used meanwhile, in cores (the machine was shared).")
    cpu_by_part_table(report, runs)
    return runs


def cpu_by_part_table(report, runs):
    def part_cpu(m, part):
        return median([r.get("cpu_by_part", {}).get(part, 0.0) for r in runs[m]])
    parts = sorted({part for rounds in runs.values() for r in rounds
                    for part in r.get("cpu_by_part", {})},
                   key=lambda part: -part_cpu("stack", part))
    report.table(
        "CPU s per page by part (median of the rounds)",
        ["part", *[SHORT_NAMES[m] for m in runs]],
        [[part, *[part_cpu(m, part) for m in runs]] for part in parts],
        note="Chromium + ChromeDriver counts every browser process wherever it runs; "
             "each other part is a process of the design with the children it starts.")


# ---------------------------------------------------------------- the baselines

def run_baseline(procs, stack, mode, urls, report, label, workers=2):
    """Two processes (the capture worker's parallelism) working through urls from Redis."""
    import redis
    r = redis.Redis.from_url(stack.redis_url, socket_timeout=None)
    key = f"bench:{mode}:{uuid.uuid4().hex[:8]}"
    out_dir = stack.work / "baseline" / key.replace(":", "-")
    budget = max(120, len(urls) * (8 if mode == "naive" else 4))
    children = []
    try:
        children = start_baseline(procs, stack, mode, key, out_dir, budget, workers)
        wait_for(lambda: baseline_ready(r, key, children, label), 180, 0.1,
                 f"{label} processes to start their browsers")
        sampler = Sampler(lambda: [c.pid for c in children] + stack.roots(("redis", "pages_proc")),
                          lambda: [c.pid for c in children],
                          names=lambda: {**stack.root_names(),
                                         **{c.pid: "capture processes (Python)"
                                            for c in children}})
        r.rpush(f"{key}:work", *urls)
        sampler.begin()
        t0 = time.monotonic()
        r.rpush(f"{key}:go", *["go"] * workers)
        results = baseline_results(r, key, children, budget, label)
        memory = sampler.stop()
        for child in children:
            try:
                child.proc.wait(60)
            except subprocess.TimeoutExpired:
                pass
    finally:
        for child in children:
            procs.stop(child, timeout=30)
        r.delete(*[f"{key}:{k}" for k in ("ready", "go", "work", "results")])
        r.close()
    shutil.rmtree(out_dir, ignore_errors=True)
    out = baseline_figures(results, urls, t0, report, label)
    done = max(len([rec for res in results for rec in res["records"]]), 1)
    return {"label": label, "mode": mode, "n": len(urls), "wall": out["wall"],
            "pps": out["pps"], "cpu_per_page": sampler.cpu() / done,
            "cpu_by_part": {part: seconds / done
                            for part, seconds in sampler.cpu_by_part().items()},
            "others_cores": sampler.others_cores(out["wall"]), "memory": memory,
            "capture_p50_ms": out["capture_p50_ms"], "check": out["check"]}


def start_baseline(procs, stack, mode, key, out_dir, budget, workers):
    """The baseline's processes (bench.baseline), each warming its browser with its own
    /warm.html load, then waiting for the go."""
    warm = corpus.warm_urls(stack.pages, workers, tag=f"b{key[-8:]}")
    return [procs.start(
        f"{mode}{i}", [PY, "-m", "bench.baseline", "--mode", mode, "--redis", stack.redis_url,
                       "--key", key, "--worker", str(i), "--warm-url", warm[i],
                       "--out", str(out_dir), "--budget", str(budget)],
        stack.env, stack.logs / f"baseline-{mode}.log") for i in range(workers)]


def baseline_ready(r, key, children, label):
    for child in children:
        if not child.alive():
            raise RuntimeError(f"{label}: a baseline process exited; see {child.log_path}")
    return r.llen(f"{key}:ready") >= len(children)


def baseline_results(r, key, children, budget, label):
    """The JSON result of each baseline process, as each finishes."""
    results = []
    deadline = time.monotonic() + budget + 120
    while len(results) < len(children) and time.monotonic() < deadline:
        item = r.blpop([f"{key}:results"], timeout=1)
        if item:
            results.append(json.loads(item[1]))
        else:
            delivered = {res.get("worker") for res in results}
            lost = [i for i, c in enumerate(children) if not c.alive() and i not in delivered]
            if lost and not r.llen(f"{key}:results"):
                raise RuntimeError(f"{label}: baseline process {lost[0]} exited without "
                                   f"a result; see {children[0].log_path}")
    failed = [res for res in results if "failed" in res]
    if failed or len(results) < len(children):
        raise RuntimeError(f"{label}: {failed or 'results missing'}")
    return results


def baseline_figures(results, urls, t0, report, label):
    """Wall time, pages/s and the check (every page captured once with its own title)."""
    wall = max(res["ended"] for res in results) - t0
    records = [rec for res in results for rec in res["records"]]
    wrong = sum(1 for rec in records
                if rec["error"] or rec["title"] != corpus.expected_title(rec["url"]))
    done = len(records)
    ok = done == len(urls) and not wrong and len(set(rec["url"] for rec in records)) == done
    summary = ("all captured with the right titles" if ok else
               f"PROBLEMS: {done}/{len(urls)} captured, {wrong} wrong or failed")
    report.log(f"{label}: {done} pages in {wall:.1f} s = {done / wall:.2f} pages/s, {summary}")
    return {"wall": wall, "pps": done / wall, "check": {"ok": ok, "summary": summary},
            "capture_p50_ms": pct([rec["ms"] for rec in records], 50)}
