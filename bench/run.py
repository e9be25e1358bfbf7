"""shootflow against the limit: throughput, latency, scale and queue overhead, side by side
in one run on the same local pages. Prints tables; see bench/README.md.

    .venv/bin/python -m bench.run            # everything, N=1000 included (~15-25 min)
    .venv/bin/python -m bench.run --quick    # a few minutes: N=30, no N=1000, no profile

It starts everything it measures (redis-server on a free port, the corpus page server,
gunicorn and the two Celery workers exactly as the Procfile starts them, the baseline
loops) and stops every one of them at the end, on Ctrl-C or on error too.
"""
import argparse
import html
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from bench import corpus
from bench.procs import (ROOT, Processes, free_port, machine_busy_seconds, port_open, procfile,
                         pss_kb, snapshot, stale_runs, tree, wait_for)

PY = sys.executable
BIN = Path(PY).parent
FINAL = ("done", "partial", "failed", "cancelled")
WORKERS = ("capture", "interactive", "images")  # the Procfile's Celery workers
KEPT_ENV = ("SHOOTFLOW_CHROMIUM", "SHOOTFLOW_CHROMEDRIVER")


# ---------------------------------------------------------------- small helpers

def pct(values, p):
    """Percentile with linear interpolation (p in 0..100)."""
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def median(values):
    return statistics.median(values) if values else float("nan")


def fmt(value, digits=2):
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def utc_epoch(text):
    if not text:
        return None
    return datetime.fromisoformat(str(text)).replace(tzinfo=timezone.utc).timestamp()


class Report:
    """Prints as it goes and keeps every line for the results file."""

    def __init__(self):
        self.lines = []

    def out(self, text=""):
        print(text, flush=True)
        self.lines.extend(str(text).splitlines() or [""])

    def table(self, title, headers, rows, note=None):
        self.out()
        self.out(f"### {title}")
        self.out()
        self.out("| " + " | ".join(headers) + " |")
        self.out("|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|")
        for row in rows:
            self.out("| " + " | ".join(fmt(c) for c in row) + " |")
        if note:
            self.out()
            for line in note.strip().splitlines():
                self.out(line)

    def log(self, text):
        print(f"  · {text}", file=sys.stderr, flush=True)


class Sampler(threading.Thread):
    """CPU seconds, peak RSS (every 0.5 s) and peak PSS (every 10 s) of process trees.

    CPU is each process's own user+system time, followed per process (pid and start time)
    from the first sample to its last: a process that dies loses at most its last half
    second, and one that leaves without being reaped inside the tree (orphaned Chromium
    helpers) does not take its earlier CPU out of the sum, as reaped-children counters
    would."""

    def __init__(self, cpu_roots, mem_roots, interval=0.5, limit=14400, pss_every=20,
                 names=None):
        super().__init__(daemon=True)
        self.cpu_roots, self.mem_roots = cpu_roots, mem_roots
        self.names = names  # callable: {root pid: name}, to split the CPU by part
        self.part = {}
        self.interval, self.limit = interval, limit
        self.pss_every = pss_every
        self.peak_rss = self.peak_pss = 0
        self.peak_procs = 0
        self.first, self.last = {}, {}
        self.samples = 0
        self._lock = threading.Lock()
        self._halt = threading.Event()

    def sample(self):
        with self._lock:
            snap = snapshot()
            for pid in tree(self.cpu_roots(), snap):
                key = (pid, snap[pid][3])
                if key not in self.first:  # born during the window: all of it counts
                    self.first[key] = snap[pid][1] if self.samples == 0 else 0.0
                self.last[key] = snap[pid][1]
                if self.names is not None and key not in self.part:
                    self.part[key] = self._part(pid, snap)
            pids = tree(self.mem_roots(), snap)
            self.peak_rss = max(self.peak_rss, sum(snap[p][2] for p in pids))
            if self.samples % self.pss_every == 0:  # smaps costs ~10 ms per Chromium process
                self.peak_pss = max(self.peak_pss, sum(pss_kb(p) for p in pids))
            self.peak_procs = max(self.peak_procs, len(pids))
            self.samples += 1

    def _part(self, pid, snap):
        """Chromium (and ChromeDriver) wherever it runs, else the root it runs under."""
        try:
            if Path(f"/proc/{pid}/comm").read_text().startswith("chrom"):
                return "Chromium + ChromeDriver"
        except OSError:
            pass
        names = self.names()
        while pid in snap and pid not in names:
            pid = snap[pid][0]
        return names.get(pid, "other")

    def cpu(self):
        return sum(self.last[k] - self.first[k] for k in self.last)

    def cpu_by_part(self):
        parts = Counter()
        for key in self.last:
            parts[self.part.get(key, "other")] += self.last[key] - self.first[key]
        return dict(parts)

    def run(self):
        for _ in range(self.limit):
            if self._halt.is_set():
                break
            self.sample()
            self._halt.wait(self.interval)

    def stop(self):
        self._halt.set()
        self.join(10)
        self.sample()
        return {"peak_rss_mb": self.peak_rss / 1024, "peak_pss_mb": self.peak_pss / 1024,
                "peak_procs": self.peak_procs}


POLL_URL = re.compile(r'hx-get="([^"]*since=[^"]*)"')
CARDS_UPTO = re.compile(r'id="cards-upto" name="upto" value="(-?\d+)"')


class WebProbe(threading.Thread):
    """One person watching the bundle page: GETs it every interval, alternating the full
    page (first load) and the htmx poll the page makes (the status and the cards changed
    since the previous poll, at the address the previous response gave)."""

    KINDS = ("full", "htmx", "more", "htmx")

    def __init__(self, port, path, cards, interval=0.5, limit=4000):
        super().__init__(daemon=True)
        self.port, self.path, self.interval, self.limit = port, path, interval, limit
        self.cards = cards  # how many shots the bundle has
        self.samples = {"full": [], "htmx": [], "more": []}
        self.errors = 0
        self.upto = -1
        self._halt = threading.Event()

    def run(self):
        n, poll = 0, None
        while not self._halt.is_set() and n < self.limit:
            kind = self.KINDS[n % len(self.KINDS)]
            headers = {"HX-Request": "true"} if kind != "full" else {}
            # the poll: the address the last response gave
            path = poll if kind == "htmx" and poll else self.path
            if kind == "more":  # the next cards, as scrolling down a long bundle asks
                after = (n // len(self.KINDS) * 50 + 49) % max(self.cards, 1)
                path = f"{self.path}/cards?after={after}"
            try:
                status, body, ms = http_request(self.port, "GET", path, headers=headers)
                if status == 200:
                    self.samples[kind].append(ms)
                    if kind != "more":  # (what scrolling loads is not kept in this page)
                        poll = self._next_poll(body.decode("utf-8", "replace"))
                else:
                    self.errors += 1
            except OSError:
                self.errors += 1
            n += 1
            self._halt.wait(self.interval)

    def _next_poll(self, text):
        found, upto = POLL_URL.search(text), CARDS_UPTO.search(text)
        if upto:  # how far down the page has cards: its polls include it (hx-include)
            self.upto = upto.group(1)
        return f"{html.unescape(found.group(1))}&upto={self.upto}" if found else None

    def stop(self):
        self._halt.set()
        self.join(30)
        out = {"errors": self.errors}
        for kind, values in self.samples.items():
            out[kind] = {"n": len(values), "p50": pct(values, 50), "p95": pct(values, 95),
                         "max": max(values) if values else float("nan")}
        return out


def http_request(port, method, path, body=None, headers=None, timeout=60):
    """(status, body bytes, milliseconds) of one request on a new connection."""
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    return response.status, data, (time.monotonic() - t0) * 1000


# ---------------------------------------------------------------- the stack

class Stack:
    """redis-server, the corpus server, migrations, web and workers as the Procfile says;
    settings: SHOOTFLOW_* variables a section needs (the submit section's limits)."""

    def __init__(self, procs, work, report, settings=None):
        self.procs, self.work, self.report = procs, work, report
        self.settings = dict(settings or {})
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        (work / "tmp").mkdir(exist_ok=True)
        (work / "media").mkdir(exist_ok=True)
        self.db_path = work / "bench.db"
        self.redis_port = free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.web_port = free_port()
        self.pages_port = free_port()
        self.pages = f"http://127.0.0.1:{self.pages_port}"
        self.hostname = socket.gethostname()
        self.procfile = procfile()
        base = {k: v for k, v in os.environ.items()
                if not k.startswith("SHOOTFLOW_") or k in KEPT_ENV}
        os.environ.clear()
        os.environ.update(base)  # default worker counts and settings, whatever the shell has
        self.env = procs.env({
            "SHOOTFLOW_DATABASE_URL": f"sqlite:///{self.db_path}",
            "SHOOTFLOW_MEDIA_DIR": str(work / "media"),
            "SHOOTFLOW_BROKER_URL": self.redis_url,
            "SHOOTFLOW_ALLOWED_NETWORKS": "127.0.0.0/8",
            "PORT": str(self.web_port),
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": os.pathsep.join(
                [str(ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])),
            "TMPDIR": str(work / "tmp"),
            "PYTHONUNBUFFERED": "1",
            **self.settings,
        })
        self.web = self.capture = self.interactive = self.images = None
        self.redis = self.pages_proc = None
        self.corpus_stats = None
        self._db = None

    def start_procfile(self, name):
        # Run from a folder of the bench's own, so relative paths in the Procfile (such as
        # a worker's --statedb under instance/) never touch the repository's instance/.
        cwd = self.work / "cwd"
        (cwd / "instance").mkdir(parents=True, exist_ok=True)
        return self.procs.start(name, ["bash", "-c", "exec " + self.procfile[name]], self.env,
                                self.logs / f"{name}.log", cwd=cwd)

    def start(self):
        log = self.report.log
        log("starting the corpus page server (generates the pages and images)")
        self.pages_proc = self.procs.start(
            "pages", [PY, "-m", "bench.corpus", "--port", str(self.pages_port)], self.env,
            self.logs / "pages.log", stdout=subprocess.PIPE)
        log(f"starting redis-server on port {self.redis_port}")
        self.redis = self.procs.start(
            "redis", ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                      "--save", "", "--appendonly", "no", "--dir", str(self.work)],
            self.env, self.logs / "redis.log")
        wait_for(lambda: port_open(self.redis_port), 20, message="redis-server")
        log("applying migrations (flask db upgrade)")
        flask = [str(BIN / "flask")] if (BIN / "flask").exists() else [PY, "-m", "flask"]
        with open(self.logs / "migrate.log", "ab") as out:
            subprocess.run(flask + ["--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=self.env,
                           stdout=out, stderr=subprocess.STDOUT, check=True, timeout=180)
        log("starting web, capture and images as the Procfile says")
        self.web = self.start_procfile("web")
        self.capture = self.start_procfile("capture")
        self.interactive = self.start_procfile("interactive")
        self.images = self.start_procfile("images")
        self.corpus_stats = self._corpus_ready()
        wait_for(lambda: self._alive() and port_open(self.web_port), 60, 0.2, "the web app")
        wait_for(lambda: self._alive() and http_request(self.web_port, "GET", "/")[0] == 200,
                 30, 0.5, "the web app to answer /")
        from celery import Celery
        control = Celery(broker=self.redis_url)
        for name in WORKERS:
            dest = f"{name}@{self.hostname}"
            wait_for(lambda: self._alive() and control.control.ping(destination=[dest],
                                                                    timeout=1.0),
                     90, 0.5, f"worker {dest} to answer ping")
        control.close()

    def _alive(self):
        for process in (self.web, self.capture, self.interactive, self.images, self.redis,
                        self.pages_proc):
            if process is not None and not process.alive():
                raise RuntimeError(f"{process.name} exited; see {process.log_path}")
        return True

    def _corpus_ready(self):
        stream = self.pages_proc.proc.stdout
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            self._alive()
            ready, _, _ = select.select([stream], [], [], 1.0)
            if ready:
                line = stream.readline().decode()
                if line.startswith("READY "):
                    return json.loads(line[6:])
        raise TimeoutError("the corpus server did not get ready in 180 s")

    # ------------------------------------------------------------ reading rows

    @property
    def db(self):
        if self._db is None:
            self._db = sqlite3.connect(self.db_path, timeout=15, check_same_thread=False)
            self._db.row_factory = sqlite3.Row
        return self._db

    def bundle_row(self, bundle_id):
        row = self.db.execute("SELECT state, created_at, finished_at FROM bundle WHERE id = ?",
                              (bundle_id,)).fetchone()
        self.db.commit()  # end the read transaction so the next read sees new rows
        return row

    def shot_rows(self, bundle_id):
        rows = self.db.execute("SELECT * FROM shot WHERE bundle_id = ? ORDER BY position",
                               (bundle_id,)).fetchall()
        self.db.commit()
        return rows

    def roots(self, which=(*WORKERS, "web", "redis", "pages_proc")):
        return [getattr(self, name).pid for name in which if getattr(self, name) is not None]

    def worker_roots(self):
        return self.roots(WORKERS)

    def root_names(self):
        names = {"capture": "capture worker (Celery)", "images": "images worker (Celery)",
                 "interactive": "interactive capture worker (Celery)",
                 "web": "web (gunicorn)", "redis": "redis-server", "pages_proc": "page server"}
        return {getattr(self, attr).pid: name for attr, name in names.items()
                if getattr(self, attr) is not None}

    def post_bundle(self, urls):
        status, body, ms = http_request(self.web_port, "POST", "/api/v1/bundles",
                                        json.dumps({"urls": urls}),
                                        {"Content-Type": "application/json"}, timeout=300)
        if status != 202:
            raise RuntimeError(f"POST /api/v1/bundles answered {status}: {body[:300]!r}")
        return json.loads(body)["id"], ms

    def task_runs(self, shot_ids):
        """How many times shots.capture and shots.process succeeded for each shot (logs)."""
        wanted = set(shot_ids)
        counts = {"capture": Counter(), "process": Counter()}
        pattern = re.compile(r"Task shots\.(capture|process)\[[^\]]+\] succeeded in [\d.]+s: "
                             r"'([0-9a-f]{24})'")
        for name in WORKERS:
            with open(self.logs / f"{name}.log", errors="replace") as handle:
                for line in handle:
                    match = pattern.search(line)
                    if match and match.group(2) in wanted:
                        counts[match.group(1)][match.group(2)] += 1
        return counts


def run_bundle(stack, urls, report, label, probe=True, timeout=None, profile=None):
    """Submit one bundle through the API and follow it to its end; returns the figures."""
    n = len(urls)
    timeout = timeout or max(120, n * 6)
    # CPU: every process of the stack; memory: the workers and their browsers
    sampler = Sampler(stack.roots, stack.worker_roots, names=stack.root_names)
    busy0, own0 = machine_busy_seconds(), sum(os.times()[:2])
    sampler.sample()
    sampler.start()
    t0 = time.time()
    bundle_id, post_ms = stack.post_bundle(urls)
    web = WebProbe(stack.web_port, f"/bundles/{bundle_id}", n) if probe else None
    if web:
        web.start()
    if profile:
        profile.start(stack)
    deadline = time.monotonic() + timeout
    row = None
    while time.monotonic() < deadline:
        row = stack.bundle_row(bundle_id)
        if row and row["state"] in FINAL:
            break
        time.sleep(0.2)
    t_seen = time.time()
    if profile:
        profile.stop()
    web_stats = web.stop() if web else None
    memory = sampler.stop()
    cpu = sampler.cpu()
    busy = machine_busy_seconds() - busy0
    own = sum(os.times()[:2]) - own0
    if not row or row["state"] not in FINAL:
        raise RuntimeError(f"{label}: bundle {bundle_id} not finished after {timeout} s "
                           f"(state {row['state'] if row else None}); logs in {stack.logs}")
    if web_stats is not None:  # the same page once the bundle is finished and all is quiet
        quiet = {"full": [], "htmx": []}
        for k in range(12):
            kind = "full" if k % 2 == 0 else "htmx"
            status, _, ms = http_request(stack.web_port, "GET", f"/bundles/{bundle_id}",
                                         headers={"HX-Request": "true"} if kind == "htmx" else {})
            if status == 200:
                quiet[kind].append(ms)
        web_stats["quiet_full_p50"] = pct(quiet["full"], 50)
        web_stats["quiet_htmx_p50"] = pct(quiet["htmx"], 50)
    finished = utc_epoch(row["finished_at"])
    wall = finished - t0
    shots = stack.shot_rows(bundle_id)
    check = verify(stack, shots, urls)
    phases = shot_phases(shots, t0)
    capture_busy = sum(p["capture"] for p in phases["per_shot"])
    result = {
        "label": label, "mode": "stack", "n": n, "bundle": bundle_id, "state": row["state"],
        "wall": wall, "pps": n / wall, "post_ms": post_ms, "seen_lag": t_seen - finished,
        "cpu_per_page": cpu / n, "others_cores": max(0.0, (busy - cpu - own) / wall),
        "cpu_by_part": {part: seconds / n for part, seconds in sampler.cpu_by_part().items()},
        "capture_slot_use": capture_busy / (2 * wall), "memory": memory, "web": web_stats,
        "check": check, "phases": {k: v for k, v in phases.items() if k != "per_shot"},
    }
    report.log(f"{label}: {n} pages in {wall:.1f} s = {n / wall:.2f} pages/s, "
               f"{check['summary']}")
    return result


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


# ---------------------------------------------------------------- baselines

def run_baseline(procs, stack, mode, urls, report, label, workers=2):
    """Two processes (the capture worker's parallelism) working through urls from Redis."""
    import redis
    r = redis.Redis.from_url(stack.redis_url, socket_timeout=None)
    key = f"bench:{mode}:{uuid.uuid4().hex[:8]}"
    out_dir = stack.work / "baseline" / key.replace(":", "-")
    budget = max(120, len(urls) * (8 if mode == "naive" else 4))
    warm = corpus.warm_urls(stack.pages, workers, tag=f"b{key[-8:]}")
    children = []
    base_roots = stack.roots(("redis", "pages_proc"))
    try:
        for i in range(workers):
            children.append(procs.start(
                f"{mode}{i}", [PY, "-m", "bench.baseline", "--mode", mode, "--redis",
                               stack.redis_url, "--key", key, "--worker", str(i),
                               "--warm-url", warm[i], "--out", str(out_dir),
                               "--budget", str(budget)],
                stack.env, stack.logs / f"baseline-{mode}.log"))

        def ready():
            for child in children:
                if not child.alive():
                    raise RuntimeError(f"{label}: a baseline process exited; "
                                       f"see {child.log_path}")
            return r.llen(f"{key}:ready") >= workers

        wait_for(ready, 180, 0.1, f"{label} processes to start their browsers")
        sampler = Sampler(lambda: [c.pid for c in children] + base_roots,
                          lambda: [c.pid for c in children],
                          names=lambda: {**stack.root_names(),
                                         **{c.pid: "capture processes (Python)"
                                            for c in children}})
        r.rpush(f"{key}:work", *urls)
        busy0, own0 = machine_busy_seconds(), sum(os.times()[:2])
        sampler.sample()
        sampler.start()
        t0 = time.monotonic()
        r.rpush(f"{key}:go", *["go"] * workers)
        results = []
        deadline = time.monotonic() + budget + 120
        while len(results) < workers and time.monotonic() < deadline:
            item = r.blpop([f"{key}:results"], timeout=1)
            if item:
                results.append(json.loads(item[1]))
            else:
                delivered = {res.get("worker") for res in results}
                lost = [i for i, c in enumerate(children)
                        if not c.alive() and i not in delivered]
                if lost and not r.llen(f"{key}:results"):
                    raise RuntimeError(f"{label}: baseline process {lost[0]} exited without "
                                       f"a result; see {children[0].log_path}")
        memory = sampler.stop()
        cpu = sampler.cpu()
        busy = machine_busy_seconds() - busy0
        own = sum(os.times()[:2]) - own0
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
    failed = [res for res in results if "failed" in res]
    if failed or len(results) < workers:
        raise RuntimeError(f"{label}: {failed or 'results missing'}")
    wall = max(res["ended"] for res in results) - t0
    records = [rec for res in results for rec in res["records"]]
    wrong = sum(1 for rec in records
                if rec["error"] or rec["title"] != corpus.expected_title(rec["url"]))
    done = len(records)
    ok = done == len(urls) and not wrong and len(set(rec["url"] for rec in records)) == done
    summary = ("all captured with the right titles" if ok else
               f"PROBLEMS: {done}/{len(urls)} captured, {wrong} wrong or failed")
    shutil.rmtree(out_dir, ignore_errors=True)
    report.log(f"{label}: {done} pages in {wall:.1f} s = {done / wall:.2f} pages/s, {summary}")
    return {"label": label, "mode": mode, "n": len(urls), "wall": wall, "pps": done / wall,
            "cpu_per_page": cpu / max(done, 1),
            "cpu_by_part": {part: seconds / max(done, 1)
                            for part, seconds in sampler.cpu_by_part().items()},
            "others_cores": max(0.0, (busy - cpu - own) / wall), "memory": memory,
            "capture_p50_ms": pct([rec["ms"] for rec in records], 50),
            "check": {"ok": ok, "summary": summary}}


def run_anatomy(procs, stack, urls, report, restarts):
    import redis
    r = redis.Redis.from_url(stack.redis_url, socket_timeout=None)
    key = f"bench:anatomy:{uuid.uuid4().hex[:8]}"
    r.set(f"{key}:urls", json.dumps(urls))
    child = procs.start("anatomy", [PY, "-m", "bench.baseline", "--mode", "anatomy",
                                    "--redis", stack.redis_url, "--key", key,
                                    "--warm-url", corpus.warm_urls(stack.pages, 1, "a")[0],
                                    "--out", str(stack.work / "anatomy"), "--budget", "300",
                                    "--restarts", str(restarts)],
                        stack.env, stack.logs / "anatomy.log")
    try:
        return _child_result(r, key, child, 420, "the anatomy run")
    finally:
        procs.stop(child, timeout=30)
        r.delete(f"{key}:urls", f"{key}:results")
        r.close()


def _child_result(r, key, child, timeout, what):
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


def run_submit_anatomy(procs, stack, urls):
    """Time the steps of a bundle submission in a process whose broker is an unread Redis
    database (db 15 of the bench's redis-server), so nothing gets captured."""
    import redis
    r = redis.Redis.from_url(stack.redis_url, socket_timeout=None)
    side = redis.Redis.from_url(stack.redis_url.rsplit("/", 1)[0] + "/15", socket_timeout=None)
    key = f"bench:submit:{uuid.uuid4().hex[:8]}"
    r.set(f"{key}:urls", json.dumps(urls))
    side_url = stack.redis_url.rsplit("/", 1)[0] + "/15"
    env = {**stack.env, "SHOOTFLOW_BROKER_URL": side_url, "SHOOTFLOW_RESULT_BACKEND": side_url}
    child = procs.start("submit", [PY, "-m", "bench.baseline", "--mode", "submit", "--redis",
                                   stack.redis_url, "--key", key, "--warm-url", "-", "--out",
                                   str(stack.work / "submit")], env, stack.logs / "submit.log")
    try:
        return _child_result(r, key, child, 600, "the submit anatomy")
    finally:
        procs.stop(child, timeout=30)
        side.flushdb()
        side.close()
        r.delete(f"{key}:urls", f"{key}:results")
        r.close()


# ---------------------------------------------------------------- latency

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
        if shot and shot["state"] in FINAL:
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


def run_latency(stack, report, runs, variant_base=500):
    """One-URL bundles, one at a time: API submit -> thumbnail served by the web app."""
    samples = []
    for url in corpus.page_urls(stack.pages, runs, variant_base=variant_base):
        samples.append(one_url_latency(stack, url))
        time.sleep(0.3)
    return samples


def run_fairness(stack, report, big, runs, idle):
    """One-URL bundles submitted while a big bundle fills the capture lane, against idle."""
    big_id, _ = stack.post_bundle(corpus.page_urls(stack.pages, big, variant_base=700))
    wait_for(lambda: sum(r["state"] == "done" for r in stack.shot_rows(big_id)) >= 10, 300, 0.5,
             "the big bundle's captures to flow")
    busy = []
    for url in corpus.page_urls(stack.pages, runs, variant_base=720):
        waiting = sum(r["state"] == "queued" for r in stack.shot_rows(big_id))
        busy.append({**one_url_latency(stack, url, timeout=600), "waiting": waiting})
        time.sleep(0.3)
    http_request(stack.web_port, "POST", f"/api/v1/bundles/{big_id}/cancel", "{}",
                 {"Content-Type": "application/json"})
    wait_for(lambda: stack.bundle_row(big_id)["state"] in FINAL, 300, 0.5,
             "the big bundle to end after its cancel")
    return {"idle": idle, "busy": busy, "big": big}


def run_scheduled(stack, report, watches, runs, idle):
    """One-URL bundles submitted while many watches' runs wait on the scheduled lane, against
    idle: the watches are made through the API and made due at once in their rows, so that
    beat's next tick starts them all, as when hundreds share a minute."""
    json_headers = {"Content-Type": "application/json"}
    stack.start_procfile("beat")  # stopped with the rest of the stack
    made = []
    for url in corpus.page_urls(stack.pages, watches, variant_base=740):
        status, body, _ = http_request(stack.web_port, "POST", "/api/v1/watches",
                                       json.dumps({"url": url, "schedule": "@daily"}),
                                       json_headers)
        if status != 201:
            raise RuntimeError(f"POST /api/v1/watches answered {status}: {body[:300]!r}")
        made.append(json.loads(body)["id"])
    marks = ",".join("?" * len(made))
    stack.db.execute(f"UPDATE watch SET next_run_at = datetime('now', '-1 minute') "
                     f"WHERE id IN ({marks})", made)
    stack.db.commit()
    open_runs = ("SELECT count(*) FROM bundle WHERE watch_id IN ({}) AND state IN "
                 "('queued', 'running')").format(marks)
    started = lambda: stack.db.execute(  # noqa: E731
        "SELECT count(*) FROM watch_run WHERE watch_id IN ({})".format(marks), made
    ).fetchone()[0]
    wait_for(lambda: started() == len(made), 120, 0.5, "beat's tick to start every run")
    busy = []
    for url in corpus.page_urls(stack.pages, runs, variant_base=760):
        waiting = stack.db.execute(open_runs, made).fetchone()[0]
        stack.db.commit()
        busy.append({**one_url_latency(stack, url, timeout=600), "waiting": waiting})
        time.sleep(0.3)
    for watch_id in made:
        http_request(stack.web_port, "DELETE", f"/api/v1/watches/{watch_id}")
    rows = stack.db.execute("SELECT id FROM bundle WHERE state IN ('queued', 'running')")
    for (bundle_id,) in rows.fetchall():
        http_request(stack.web_port, "POST", f"/api/v1/bundles/{bundle_id}/cancel", "{}",
                     json_headers)
    stack.db.commit()
    return {"idle": idle, "busy": busy, "watches": watches}


# ---------------------------------------------------------------- submitting a big bundle

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
            status, body, cancel_ms = http_request(
                stack.web_port, "POST", f"/api/v1/bundles/{bundle_id}/cancel", "{}",
                {"Content-Type": "application/json"})
            if status != 202:
                raise RuntimeError(f"cancel of bundle {bundle_id} answered {status}: "
                                   f"{body[:300]!r}")
            t0 = time.monotonic()
            wait_for(lambda bundle_id=bundle_id: stack.bundle_row(bundle_id)["state"] in FINAL
                     and broker_idle(r, queues), 300, 0.2,
                     f"bundle {bundle_id} to end and its tasks to leave the queues")
            drain_ms = (time.monotonic() - t0) * 1000
            samples.append({"bundle": bundle_id, "post": post_ms, "cancel": cancel_ms,
                            "drain": drain_ms})
            report.log(f"submit {k + 1}/{runs}: POST {post_ms:.0f} ms, cancel "
                       f"{cancel_ms:.0f} ms, workers idle again {drain_ms / 1000:.1f} s later")
    finally:
        r.close()
    return samples


# ---------------------------------------------------------------- queue overhead

def run_overhead(procs, stack, report, tasks, chord_size):
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
        out = {}
        t0 = time.monotonic()
        res = group(noop.si() for _ in range(tasks)).apply_async()
        sent = time.monotonic()
        res.get(timeout=600)
        out["group"] = {"n": tasks, "wall": time.monotonic() - t0, "send": sent - t0}
        for name, header in (
                ("chord", lambda: group(noop.si() for _ in range(chord_size))),
                ("chord_chains", lambda: group(chain(noop.si(), noop.s())
                                               for _ in range(chord_size)))):
            canvas = chord(header(), noop.si())
            t0 = time.monotonic()
            res = canvas.apply_async()
            sent = time.monotonic()
            res.get(timeout=600)
            out[name] = {"n": chord_size, "wall": time.monotonic() - t0, "send": sent - t0}
        return out
    finally:
        procs.stop(worker, timeout=30)


# ---------------------------------------------------------------- profile

class Profile:
    """py-spy on the capture and images pool processes while a bundle runs."""

    def __init__(self, work, seconds):
        self.work, self.seconds = work, seconds
        self.spies = []

    def start(self, stack):
        snap = snapshot()
        targets = []
        for name, root in (("capture", stack.capture.pid), ("images", stack.images.pid)):
            kids = [p for p, (ppid, *_) in snap.items() if ppid == root]
            for k in kids:
                if "python" in open(f"/proc/{k}/comm").read() or "celery" in \
                        open(f"/proc/{k}/comm").read():
                    targets.append((name, k))
        for name, pid in targets:
            out = self.work / f"pyspy-{name}-{pid}.txt"
            self.spies.append((name, pid, out, subprocess.Popen(
                [str(BIN / "py-spy"), "record", "--pid", str(pid), "--duration",
                 str(self.seconds), "--rate", "100", "--idle", "--format", "raw",
                 "--output", str(out), "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))

    def stop(self):
        for _, _, _, proc in self.spies:
            try:
                proc.wait(self.seconds + 30)
            except subprocess.TimeoutExpired:
                proc.kill()

    # first match wins, tested against the whole stack of a main-thread sample
    RULES = (
        ("idle: waiting for the next task", None),
        ("Chromium start (recycle)", ("Browser.__init__",)),
        ("Chromium quit (recycle)", ("Browser.quit",)),
        ("Browser.capture: navigations (driver.get)", ("WebDriver.get (",)),
        ("Browser.capture: screenshot (PNG)", ("get_screenshot_as_png", "_screenshot")),
        ("Browser.capture: network log + frame tree", ("get_log", "_main_document")),
        ("Browser.capture: other WebDriver calls", ("Browser.capture",)),
        ("make_thumbnail (Pillow)", ("make_thumbnail",)),
        ("image_size (PNG header)", ("image_size",)),
        ("image files (MediaStore read/write)", ("MediaStore",)),
        ("settle (is the bundle over?)", ("settle (shootflow",)),
        ("heartbeat (UPDATE + commit)", ("heartbeat (shootflow",)),
        ("claim_shot (UPDATE + commit)", ("claim_shot",)),
        ("finalize_bundle (the chord callback)", ("finalize_bundle (shootflow",)),
        ("dispatch (send captures from the rows)", ("dispatch (shootflow",
                                                    "dispatch_bundle (shootflow")),
        ("other database work (SQLAlchemy)", ("sqlalchemy",)),
        ("Celery: send next task, store result, chord counter",
         ("_dispatch_callbacks_and_chain", "mark_as_done", "store_result",
          "on_chord_part_return", "apply_async")),
        ("capture watch thread (start/join)", ("watch_capture",)),
        ("other", ()),
    )

    def rows(self):
        """Per kind of pool process: share of the main thread's wall time in each place."""
        per_kind = {}
        for name, _, path, _ in self.spies:
            if not path.exists():
                continue
            counts = per_kind.setdefault(name, [Counter(), 0])
            counts[1] += 1
            for line in path.read_text(errors="replace").splitlines():
                stack_text, _, num = line.rpartition(" ")
                if not num.isdigit() or not stack_text.startswith("<module>"):
                    continue  # another thread (egress proxy, cancel watch): not the task's
                for label, needles in self.RULES:
                    if needles is None:
                        if "trace_task" not in stack_text:
                            break
                    elif not needles or any(n in stack_text for n in needles):
                        break
                counts[0][label] += int(num)
        rows = []
        for name, (counts, nprocs) in per_kind.items():
            total = sum(counts.values()) or 1
            for label, count in counts.most_common():
                if count / total >= 0.005:
                    rows.append([f"{name} ({nprocs} process{'es' if nprocs > 1 else ''})",
                                 label, count / total * 100])
        return rows


# ---------------------------------------------------------------- the run

def guard_optional():
    """True when this version of the engine has an egress guard that options can turn off."""
    import dataclasses

    from shootflow.capture import BrowserOptions
    return "egress_guard" in {f.name for f in dataclasses.fields(BrowserOptions)}


def machine_header(report, args, stack):
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip() or "?"
    dirty = subprocess.run(["git", "--no-optional-locks", "-C", str(ROOT), "status",
                            "--porcelain", "--",
                            "shootflow", "templates", "celeryconfig.py", "Procfile", "wsgi.py",
                            "migrations"], capture_output=True, text=True).stdout.strip()
    chromium = subprocess.run([os.environ.get("SHOOTFLOW_CHROMIUM", "/usr/bin/chromium"),
                               "--version"], capture_output=True, text=True).stdout.strip()
    with open("/proc/loadavg") as handle:
        load = handle.read().split()[:3]
    report.out(f"# shootflow bench — {datetime.now().strftime('%Y-%m-%d %H:%M')}")
    report.out()
    report.out(f"- code: {head}{' + uncommitted changes in the product code' if dirty else ''}"
               f"; {chromium}; Python {sys.version.split()[0]}")
    report.out(f"- machine: {os.cpu_count()} cores, "
               f"{os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.0f} GiB; "
               f"load average at start {' '.join(load)}")
    s = stack.corpus_stats
    report.out(f"- corpus: {s['pages']} pages ({s['html_bytes'] / 1e6:.1f} MB HTML), "
               f"{s['images']} images ({s['image_bytes'] / 1e6:.1f} MB), {s['with_fonts']} with "
               f"web fonts ({', '.join(s['fonts']) or 'none found'}), {s['with_js']} with JS")
    report.out(f"- stack: Procfile web/capture/images, default concurrency; "
               f"options: {' '.join(args.argv) or '(none)'}")
    if stack.settings:
        report.out("- settings for the submit section: " + ", ".join(
            f"{name}={value}" for name, value in stack.settings.items()))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="N=30, one round, no N=1000 and no profile: a few minutes")
    parser.add_argument("--full", dest="full", action="store_true", default=None,
                        help="include the N=1000 bundle (the default unless --quick)")
    parser.add_argument("--no-full", dest="full", action="store_false")
    parser.add_argument("--n", type=int, help="pages per side-by-side run (100; quick 30)")
    parser.add_argument("--rounds", type=int, help="side-by-side rounds (2; quick 1)")
    parser.add_argument("--latency-runs", type=int, default=20)
    parser.add_argument("--submit-runs", type=int, default=20,
                        help=f"{SUBMIT_URLS:,}-URL bundles the submit section POSTs (20)")
    parser.add_argument("--designs", help="compare the whole stack with only these designs "
                        "(comma-separated: bare, bare-noguard, engine, naive; default all)")
    parser.add_argument("--profile", dest="profile", action="store_true", default=None,
                        help="py-spy the workers during an extra bundle (default when "
                             "py-spy is installed, except with --quick)")
    parser.add_argument("--no-profile", dest="profile", action="store_false")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help="comma-separated subset of: " + ", ".join(SECTIONS))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "latest.txt"))
    parser.add_argument("--keep", action="store_true", help="keep the work folder and logs")
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    args.sections = [x.strip() for x in args.sections.split(",") if x.strip()]
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    args.n = args.n or (30 if args.quick else 100)
    args.rounds = args.rounds or (1 if args.quick else 2)
    args.full = (not args.quick) if args.full is None else args.full
    if args.profile is None:
        args.profile = not args.quick and (BIN / "py-spy").exists()
    if args.profile and not (BIN / "py-spy").exists():
        parser.error("--profile needs py-spy: .venv/bin/pip install py-spy==0.4.3")

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with it ignored

    stale = stale_runs()
    if stale:
        print(f"ending {len(stale)} processes left by an earlier bench run that was killed",
              file=sys.stderr)
        for pid in stale:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    report = Report()
    procs = Processes()
    work = Path(tempfile.mkdtemp(prefix="shootflow-bench-"))
    status = 1
    try:
        settings = submit_settings(args.submit_runs) if "submit" in args.sections else None
        stack = Stack(procs, work, report, settings)
        stack.start()
        results = sections(args, report, procs, stack)
        status = 0 if results is not None else 1
    except KeyboardInterrupt as exc:
        print(f"\ninterrupted ({str(exc) or 'Ctrl-C'}); stopping everything", file=sys.stderr)
        status = 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut cleanup
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        left = procs.stop_all()
        if left:
            print(f"had to kill {len(left)} leftover processes: {left[:5]}", file=sys.stderr)
        if args.keep or status not in (0, 130):
            print(f"work folder and logs kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
        if report.lines:
            out = Path(args.out)
            if status != 0:  # never overwrite a complete report with a partial one
                out = out.with_name(out.stem + ".partial" + out.suffix)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text("\n".join(report.lines) + "\n")
            print(f"\nreport written to {out}", file=sys.stderr)
    return status


SECTIONS = ("throughput", "latency", "fairness", "scheduled", "scale", "overhead", "anatomy",
            "profile", "submit")
NAMES = {"stack": "shootflow, whole stack (API → chord → capture → thumbnail → rows)",
         "bare": "(a) bare loop, one reused driver per process",
         "bare-noguard": "(a) bare loop with the egress guard (proxy) off",
         "engine": "product engine alone (BrowserSession.capture, no queue)",
         "naive": "(b) new driver per capture"}
SHORT_NAMES = {"stack": "whole stack", "bare": "(a) bare loop", "bare-noguard": "(a) no guard",
               "engine": "engine alone", "naive": "(b) driver per capture"}


def sections(args, report, procs, stack):
    machine_header(report, args, stack)
    base = stack.pages
    want = set(args.sections)
    results = {}
    report.log("warming up the workers (one bundle of /warm.html pages)")
    warm = run_bundle(stack, corpus.warm_urls(base, 6), report, "warm-up", probe=False)
    if not warm["check"]["ok"]:
        raise RuntimeError(f"warm-up bundle failed: {warm['check']['summary']}")
    stack_runs, pps, lat, scale = [], {}, None, []

    # 1. throughput, side by side, on the same pages; the order rotates each round
    if "throughput" in want:
        modes = ["stack", "bare", "engine", "naive"]
        if guard_optional():
            modes.insert(2, "bare-noguard")
        if args.designs:
            modes = [m for m in modes if m == "stack" or m in args.designs.split(",")]
        runs = {m: [] for m in modes}
        for rnd in range(args.rounds):
            urls = corpus.page_urls(base, args.n, variant_base=100 + rnd)
            order = modes[rnd % len(modes):] + modes[:rnd % len(modes)]
            for mode in order:
                label = f"round {rnd + 1} {mode} N={args.n}"
                if mode == "stack":  # nobody watching: the same work as the baselines
                    runs[mode].append(run_bundle(stack, urls, report, label, probe=False))
                else:
                    runs[mode].append(run_baseline(procs, stack, mode, urls, report, label))
        pps = {m: median([r["pps"] for r in runs[m]]) for m in modes}
        rows = []
        for m in modes:
            rows.append([NAMES[m], " / ".join(f"{r['pps']:.2f}" for r in runs[m]), pps[m],
                         median([r["cpu_per_page"] for r in runs[m]]),
                         median([r["memory"]["peak_pss_mb"] for r in runs[m]]),
                         median([r["others_cores"] for r in runs[m]]),
                         pps["stack"] / pps[m] if m != "stack" else 1.0,
                         "yes" if all(r["check"]["ok"] for r in runs[m]) else "NO"])
        report.table(
            f"Throughput, N={args.n} pages, 2 capture processes, {args.rounds} round(s)",
            ["design", "pages/s per round", "pages/s (median)", "CPU s/page", "peak PSS MB",
             "others' load (cores)", "shootflow ÷ this", "all correct"], rows,
            note="Same pages for every design, fresh image URLs each round; every design "
                 "starts with a warm browser cache for the shared assets (/warm.html).\n"
                 "CPU s/page counts every process of the design (workers, web, Chromium, "
                 "redis, page server); others' load is the CPU that processes outside the "
                 "bench used meanwhile, in cores (the machine was shared).")
        stack_runs = runs["stack"]
        def part_cpu(m, part):
            return median([r.get("cpu_by_part", {}).get(part, 0.0) for r in runs[m]])
        parts = sorted({part for m in modes for r in runs[m] for part in r.get("cpu_by_part", {})},
                       key=lambda part: -part_cpu("stack", part))
        report.table(
            "CPU s per page by part (median of the rounds)",
            ["part", *[SHORT_NAMES[m] for m in modes]],
            [[part, *[part_cpu(m, part) for m in modes]] for part in parts],
            note="Chromium + ChromeDriver counts every browser process wherever it runs; "
                 "each other part is a process of the design with the children it starts.")
        results["throughput"] = runs

    # 2. latency
    if "latency" in want:
        lat = run_latency(stack, report, args.latency_runs)
        keys = [("total", "submit → thumbnail served (total)"),
                ("post", "POST /api/v1/bundles"),
                ("to_start", "submit → capture task starts"),
                ("capture", "capture task (claim row → PNG + row)"),
                ("engine", "  of which Browser.capture"),
                ("thumb", "captured → thumbnail done"),
                ("seen", "thumbnail done → client sees it (20 ms polling)")]
        report.table(f"Latency of a one-URL bundle, {len(lat)} runs, warm workers (ms)",
                     ["step", "p50", "p95", "max"],
                     [[name, pct([x[k] for x in lat], 50), pct([x[k] for x in lat], 95),
                       max(x[k] for x in lat)] for k, name in keys])
        results["latency"] = lat

    # 2b. fairness: a one-URL bundle while another client's big bundle is running
    if "fairness" in want:
        idle = lat or run_latency(stack, report, 10, variant_base=600)
        fair = run_fairness(stack, report, 1000 if args.full else 200, 5, idle)
        idle_p50 = pct([x["total"] for x in idle], 50)
        report.table(
            f"Fairness: a one-URL bundle while a {fair['big']}-URL bundle runs (ms)",
            ["run", "shots of the big bundle still queued", "submit → thumbnail",
             "submit → capture starts", "÷ idle p50"],
            [[i + 1, x["waiting"], x["total"], x["to_start"], x["total"] / idle_p50]
             for i, x in enumerate(fair["busy"])],
            note=f"Idle p50 {idle_p50:.0f} ms. Every bundle's first shots go to the "
                 "interactive lane (queue capture), the rest of a big bundle to capture.bulk; "
                 "the capture worker takes from the two in turn, the interactive worker "
                 "only from capture. Target: within 2x idle.")
        results["fairness"] = fair

    # 2c. the scheduled lane: a one-URL bundle while hundreds of watch runs wait
    if "scheduled" in want:
        idle = lat or run_latency(stack, report, 10, variant_base=600)
        sched = run_scheduled(stack, report, 300, 5, idle)
        idle_p50 = pct([x["total"] for x in idle], 50)
        report.table(
            f"A one-URL bundle while {sched['watches']} watch runs are queued (ms)",
            ["run", "watch runs still open", "submit → thumbnail", "submit → capture starts",
             "÷ idle p50"],
            [[i + 1, x["waiting"], x["total"], x["to_start"], x["total"] / idle_p50]
             for i, x in enumerate(sched["busy"])],
            note=f"Idle p50 {idle_p50:.0f} ms. Watch runs go to capture.scheduled, which the "
                 "capture worker takes in turn with the others and the interactive worker "
                 "never does.")
        results["scheduled"] = sched

    # 3. scale
    if "scale" in want:
        sizes = [10, args.n] + ([1000] if args.full else [])
        for k, size in enumerate(sizes):
            scale.append(run_bundle(stack, corpus.page_urls(base, size, variant_base=300 + 10 * k),
                                    report, f"scale N={size}", timeout=max(600, size * 4)))
        rows = []
        for r in scale:
            rows.append([r["n"], r["wall"], r["pps"], r["post_ms"],
                         r["capture_slot_use"] * 100, r["phases"]["capture_p50_ms"],
                         r["memory"]["peak_pss_mb"], r["memory"]["peak_rss_mb"],
                         r["memory"]["peak_procs"], r["web"]["htmx"]["p95"],
                         r["web"]["more"]["p95"],
                         r["web"]["full"]["p95"], r["web"]["full"]["max"],
                         r["web"]["quiet_full_p50"],
                         r["check"]["lost"], r["check"]["dup_rows"] + r["check"]["dup_captures"]
                         + r["check"]["dup_process"], r["others_cores"]])
        report.table("Scale: whole stack per bundle size",
                     ["N", "wall s", "pages/s", "POST ms", "capture slots busy %",
                      "capture task p50 ms", "workers+browsers peak PSS MB", "peak RSS MB",
                      "processes", "bundle page p95 ms (htmx poll)",
                      "p95 ms (next 50 cards)", "bundle page p95 ms (full)",
                      "full max ms", "full page p50 ms once finished", "lost", "duplicated",
                      "others' load (cores)"], rows,
                     note="One bundle per size, each with one person watching its page. "
                          "Memory covers both Celery workers and every chromedriver/Chromium "
                          "process under them (PSS shares shared pages out fairly; RSS counts "
                          "them in every process). The bundle page is requested every 0.5 s "
                          "during the run, in turn: the full page (its first 50 cards), the "
                          "htmx poll, the next 50 cards somewhere down the list (what "
                          "scrolling asks for), the poll again. Capture slots busy = time inside capture tasks ÷ "
                          "(2 × wall).")
        results["scale"] = scale
        size = max(sizes)
        sub = run_submit_anatomy(procs, stack, corpus.page_urls(base, size, variant_base=390))
        total = sub["parse"] + sub["rows"] + sub["send"]
        report.table(f"What POST /api/v1/bundles spends on {size} URLs (the same steps "
                     "in one process, nothing else running from the bench), and what the "
                     "worker's dispatch then does",
                     ["step", "ms", "ms per URL"],
                     [["parse_url_list (normalize, check every destination)",
                       sub["parse"] * 1000, sub["parse"] * 1000 / size],
                      ["create_bundle + commit (the rows)", sub["rows"] * 1000,
                       sub["rows"] * 1000 / size],
                      ["send_bundle (one bundles.dispatch message)", sub["send"] * 1000,
                       sub["send"] * 1000 / size],
                      ["request total", total * 1000, total * 1000 / size],
                      ["then, in a worker: dispatch (build the chord, send it, note the "
                       "rows)", sub["dispatch"] * 1000, sub["dispatch"] * 1000 / size]])
        results["submit"] = sub

    # 4. queue overhead
    if "overhead" in want:
        over = run_overhead(procs, stack, report, tasks=500 if args.quick else 2000,
                            chord_size=1000)
        rows = []
        for key, what in (("group", "no-op tasks (a group)"),
                          ("chord", "1000-task chord, no-op callback"),
                          ("chord_chains", "chord of 1000 chains of 2 (a bundle's shape)")):
            o = over[key]
            rows.append([what, o["n"], o["send"], o["wall"], o["n"] / o["wall"],
                         o["wall"] / o["n"] * 2 * 1000])
        capture_ms = median([r["phases"]["capture_p50_ms"] for r in stack_runs + scale])
        report.table("Queue overhead: Celery no-op tasks on the same Redis broker, prefork "
                     "concurrency 2, the product's celeryconfig",
                     ["what", "items", "send s", "wall s", "items/s", "worker ms per item"],
                     rows,
                     note=f"For scale: a capture task takes {capture_ms:.0f} ms (p50, whole "
                          "stack). 'send s' is the time apply_async() takes in the caller "
                          "(the web request, for a bundle); 'worker ms per item' = wall × 2 "
                          "processes ÷ items.")
        results["overhead"] = over

    # 5. anatomy of one capture (Chromium timings)
    if "anatomy" in want:
        anatomy_urls = corpus.page_urls(base, 15 if args.quick else 40, variant_base=600)
        anat = run_anatomy(procs, stack, anatomy_urls, report,
                           restarts=3 if args.quick else 5)
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
        results["anatomy"] = anat

    # 6. profile
    if "profile" in want and args.profile:
        prof = Profile(stack.work, seconds=25)
        run_bundle(stack, corpus.page_urls(base, 120, variant_base=700), report,
                   "profiled N=120 (py-spy attached; not a measurement)", probe=False,
                   profile=prof)
        rows = prof.rows() or [["–", "py-spy recorded nothing: it needs ptrace permission "
                                      "(root, or kernel.yama.ptrace_scope=0)", None]]
        report.table("Where the worker pool processes spend their time (py-spy --idle, "
                     "25 s of a 120-page bundle; % of the main thread's wall time)",
                     ["pool process", "where", "% of time"], rows)
        results["profile"] = rows

    # 7. the POST of a 1,000-URL bundle, each cancelled at once
    if "submit" in want and args.submit_runs > 0:
        subs = run_submits(stack, report, args.submit_runs)
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
        results["submit_requests"] = subs

    # 8. targets
    rows = []
    if "bare" in pps:
        rows.append([f"whole stack ≥ 90% of the bare reused-driver loop (N={args.n})",
                     f"{pps['stack'] / pps['bare'] * 100:.0f}%",
                     pps["stack"] / pps["bare"] >= 0.9])
    if "naive" in pps:
        rows.append([f"whole stack ≥ 3.5× driver-per-capture (N={args.n})",
                     f"{pps['stack'] / pps['naive']:.2f}×", pps["stack"] / pps["naive"] >= 3.5])
    if lat:
        lat_p50 = pct([x["total"] for x in lat], 50)
        rows.append(["one-URL latency p50 < 1 s", f"{lat_p50:.0f} ms", lat_p50 < 1000])
    big = [r for r in scale if r["n"] == 1000]
    if big:
        b, n100 = big[0], scale[1]["pps"]
        ratio = b["pps"] / n100
        rows.append([f"N=1000 throughput within 10% of N={args.n}",
                     f"{ratio * 100:.0f}% ({b['pps']:.2f} vs {n100:.2f} pages/s)",
                     ratio >= 0.9])
    if big:
        dup = b["check"]["dup_rows"] + b["check"]["dup_captures"] + b["check"]["dup_process"]
        rows.append(["N=1000: no lost or duplicated shots",
                     f"lost {b['check']['lost']}, duplicated {dup}", b["check"]["ok"]])
        worst = max(b["web"][kind]["p95"] for kind in ("full", "htmx", "more"))
        rows.append(["bundle page p95 < 200 ms during N=1000",
                     f"full page {b['web']['full']['p95']:.0f} ms, htmx poll "
                     f"{b['web']['htmx']['p95']:.0f} ms, next cards "
                     f"{b['web']['more']['p95']:.0f} ms", worst < 200])
    elif "scale" in want:
        rows.append(["N=1000 targets", "not run (--quick / --no-full)", None])
    report.table("Targets", ["target", "measured", "met"],
                 [[t, m, "yes" if ok else ("–" if ok is None else "MISSED")]
                  for t, m, ok in rows])
    with open("/proc/loadavg") as handle:
        report.out(f"\nload average at the end: {' '.join(handle.read().split()[:3])}")
    out = Path(args.out).with_suffix(".json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=str))
    return results


if __name__ == "__main__":
    sys.exit(main())
