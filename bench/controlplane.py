"""The control plane's limit: how many shots a second the web app, the broker, the database and
the images lane sustain when capturing costs nothing but a set delay.

The capture workers run the stand-in engine of `bench/standin.py` (a prepared PNG after
`--delay` ms, many pool processes), so the capture side is never what waits; everything
else is the product as the Procfile starts it: bundles are submitted with
`POST /api/v1/bundles` to gunicorn, a worker dispatches them, `shots.capture` claims, writes
and commits each shot, the images lane makes real thumbnails with Pillow, and the bundles
settle. Per run it reports shots/s from the first POST to the last shot done, the CPU of
every part (psutil), the length of every queue every 0.5 s, and where each shot waited.

    .venv/bin/python -m bench.controlplane [--delay 200] [--capture-processes 16]
        [--images 1,2,4] [--bundles 20 --size 100] [--big 1000] [--small 300]
        [--database sqlite|postgresql] [--database-url URL]
        [--broker redis|amqp] [--broker-url URL]

Without a URL the bench starts its own servers: a temporary SQLite file or a private
PostgreSQL server, a private redis-server or RabbitMQ node (the result store is then a
private redis-server). Figures go to bench/results/controlplane.json; see bench/README.md,
"The control plane's limit".
"""
import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

from bench.procs import ROOT, Processes, free_port, port_open, procfile, wait_for

# The private servers the tests use (RedisServer, PostgresServer): the one place to change
# if they move.
from shootflow.testing import servers

BIN = Path(sys.executable).parent
QUEUES = ("capture", "capture.bulk", "capture.scheduled", "images", "default")
FINAL = ("done", "partial", "failed", "cancelled")
KEPT_ENV = ("SHOOTFLOW_CHROMIUM", "SHOOTFLOW_CHROMEDRIVER")
ROLES = ("web", "capture (stand-in)", "images", "beat", "broker", "results (Redis)", "database",
         "bench")
OUT = ROOT / "bench" / "results" / "controlplane.json"


def pct(values, p):
    values = sorted(values)
    if not values:
        return None
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def epoch(value):
    """A row's naive-UTC timestamp (text from SQLite, datetime from PostgreSQL) in seconds."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


# ---------------------------------------------------------------- broker and database

class Broker:
    """The broker (a private redis-server or RabbitMQ node, or --broker-url) and the result
    store, which is always Redis (chords count there): the broker itself when that is Redis,
    else a private redis-server."""

    def __init__(self, kind, url, work):
        self.kind, self.server, self.redis = kind, None, None
        if url is None:
            self.server = (servers.RedisServer(work) if kind == "redis"
                           else servers.RabbitServer(work / "rabbitmq"))
            url = self.server.url
        if kind == "amqp":
            self.redis = servers.RedisServer(work)
        self.url = url
        self.results = self.redis.url if self.redis else url
        self.pid = self.server.proc.pid if self.server else None
        self.results_pid = self.redis.proc.pid if self.redis else None
        where = (f"private {'redis-server' if kind == 'redis' else 'RabbitMQ node'}"
                 if self.server else url.split("@")[-1])
        self.described = f"{kind} ({where})" + (
            ", results in a private redis-server" if self.redis else "")
        self.own = 0  # the bench's own Redis commands, taken out of the count
        self._client = self._connection = None
        # The sampler and the main thread both ask; an AMQP connection serves one at a time.
        self._lock = threading.Lock()

    @property
    def client(self):
        """The Redis that keeps the results (and, with a Redis broker, the queues)."""
        if self._client is None:
            import redis
            self._client = redis.Redis.from_url(self.results)
        return self._client

    def lengths(self):
        """Messages waiting in each queue, and those delivered but not yet acknowledged
        (None on RabbitMQ, which does not say)."""
        with self._lock:
            return self._lengths()

    def _lengths(self):
        if self.kind == "redis":
            pipe = self.client.pipeline()
            for queue in QUEUES:
                pipe.llen(queue)
            pipe.hlen("unacked")
            *waiting, unacked = pipe.execute()
            self.own += len(QUEUES) + 1
            return dict(zip(QUEUES, waiting)), unacked
        from kombu import Connection
        from kombu.exceptions import ChannelError
        self._connection = self._connection or Connection(self.url)
        waiting = {}
        for queue in QUEUES:
            try:
                waiting[queue] = self._connection.default_channel.queue_declare(
                    queue=queue, passive=True).message_count
            except ChannelError:  # not declared yet; a failed passive declare closes the channel
                self._connection.close()
                self._connection = Connection(self.url)
                waiting[queue] = 0
        return waiting, None

    def _info(self, section):
        with self._lock:
            self.own += 1
            return self.client.info(section)

    def commands(self):
        """Commands the Redis has processed so far (with RabbitMQ: the result store's only)."""
        return self._info("stats")["total_commands_processed"] - self.own

    def memory(self):
        """Bytes of data the Redis holds now (queues and results, or results only), without
        its buffers and allocator overhead."""
        return self._info("memory")["used_memory_dataset"]

    def keys(self):
        with self._lock:
            self.own += 1
            return self.client.dbsize()

    def version(self):
        redis = "Redis " + self._info("server")["redis_version"]
        if self.kind == "redis":
            return redis
        from kombu import Connection
        with Connection(self.url) as connection:
            connection.connect()
            info = connection.connection.server_properties
        version = info.get("version", b"")
        version = version.decode() if isinstance(version, bytes) else version
        return f"RabbitMQ {version}, results in {redis}"

    def stop(self):
        if self._connection is not None:
            self._connection.close()
        for server in (self.server, self.redis):
            if server is not None:
                server.stop()


class Database:
    """A temporary SQLite file, a private PostgreSQL server (`shootflow.testing.servers`), or the
    database at --database-url; read by the bench with SQLAlchemy."""

    def __init__(self, kind, url, work):
        self.server = None
        if url is None and kind == "sqlite":
            url = f"sqlite:///{work / 'bench.db'}"
        elif url is None:
            self.server = servers.PostgresServer()
            url = self.server.create_database("controlplane")
        self.kind = "sqlite" if url.startswith("sqlite") else "postgresql"
        self.url = url
        self.pid = self.server.proc.pid if self.server else None
        where = "private server" if self.server else url.split("@")[-1]
        self.described = (f"{self.kind} (temporary file, WAL)" if self.kind == "sqlite"
                          else f"{self.kind} ({where})")
        self.reads = 0  # the bench's own transactions, taken out of the commit count
        self._engine = None

    @property
    def engine(self):
        if self._engine is None:
            from sqlalchemy import create_engine

            from shootflow.config import database_url
            self._engine = create_engine(database_url(self.url))
        return self._engine

    def query(self, sql, **params):
        from sqlalchemy import bindparam, text
        statement = text(sql)
        for name, value in params.items():
            if isinstance(value, (list, tuple)):
                statement = statement.bindparams(bindparam(name, expanding=True))
        with self.engine.connect() as connection:
            rows = connection.execute(statement, params).mappings().all()
        self.reads += 1
        return rows

    def commits(self):
        """Transactions committed in the database so far (PostgreSQL only)."""
        if self.kind != "postgresql":
            return None
        rows = self.query("SELECT xact_commit FROM pg_stat_database "
                          "WHERE datname = current_database()")
        return rows[0]["xact_commit"] - self.reads

    def version(self):
        if self.kind == "sqlite":
            import sqlite3
            return f"SQLite {sqlite3.sqlite_version}"
        return self.query("SELECT version() AS v")[0]["v"].split(" on ")[0]

    def stop(self):
        if self._engine is not None:
            self._engine.dispose()
        if self.server:
            self.server.stop()


# ---------------------------------------------------------------- the stack

def standin_command(capture_line, pool):
    """The Procfile's capture worker, with the bench's own app module and pool."""
    if "-A wsgi:celery_app" not in capture_line:
        raise SystemExit(f"the Procfile's capture line no longer says -A wsgi:celery_app: "
                         f"{capture_line}")
    return capture_line.replace("-A wsgi:celery_app", "-A bench.standin:celery_app") + \
        f" --pool {pool}"


class Stack:
    """web and images as the Procfile starts them, the stand-in capture worker, on the
    bench's own broker, database, media and instance folders."""

    def __init__(self, procs, work, broker, database, args):
        self.procs, self.work, self.broker, self.database = procs, work, broker, database
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.media = work / "media"
        self.port = free_port()
        self.lines = procfile()
        self.capture_line = standin_command(self.lines["capture"], args.capture_pool)
        settings = {
            "SHOOTFLOW_DATABASE_URL": database.url,
            "SHOOTFLOW_BROKER_URL": broker.url,
            "SHOOTFLOW_RESULT_BACKEND": broker.results,
            "SHOOTFLOW_MEDIA_DIR": str(self.media),
            "SHOOTFLOW_INSTANCE_DIR": str(work / "instance"),
            "SHOOTFLOW_ALLOWED_NETWORKS": "127.0.0.0/8",
            "SHOOTFLOW_MAX_BUNDLE_URLS": str(max(args.size, args.big, 20)),
            "SHOOTFLOW_URLS_PER_MINUTE": "0",  # one client's limits are not what is measured
            "SHOOTFLOW_MAX_WAITING_SHOTS": "0",
            "SHOOTFLOW_CAPTURE_CONCURRENCY": str(args.capture_processes),
            "BENCH_STANDIN_DELAY_MS": str(args.delay),
            "PORT": str(self.port),
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
        }
        # Only these settings: none of the caller's shell's SHOOTFLOW_* variables.
        self.env = {k: v for k, v in procs.env(settings).items()
                    if not k.startswith("SHOOTFLOW_") or k in settings or k in KEPT_ENV
                    or k.startswith("SHOOTFLOW_BENCH_")}
        self.web = self.capture = self.images = self.beat = None
        self.images_concurrency = None
        self.with_beat = args.beat

    def _start(self, name, command, extra=None):
        cwd = self.work / "cwd"  # relative paths in the Procfile stay inside the work folder
        (cwd / "instance").mkdir(parents=True, exist_ok=True)
        return self.procs.start(name, ["bash", "-c", "exec " + command],
                                {**self.env, **(extra or {})}, self.logs / f"{name}.log",
                                cwd=cwd)

    def start(self, images):
        with open(self.logs / "migrate.log", "ab") as out:
            subprocess.run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT,
                           env=self.env, stdout=out, stderr=subprocess.STDOUT, check=True,
                           timeout=300)
        self.web = self._start("web", self.lines["web"])
        self.capture = self._start("capture", self.capture_line)
        if self.with_beat:  # the watchdog and the watches' tick, as `make run` has them
            self.beat = self._start("beat", self.lines["beat"])
        self.start_images(images)
        wait_for(lambda: self.alive() and port_open(self.port), 60, 0.2, "the web app")
        self.wait_ping("capture")

    def start_images(self, concurrency):
        if self.images is not None:
            self.procs.stop(self.images)
        self.images = self._start("images", self.lines["images"],
                                  {"SHOOTFLOW_IMAGES_CONCURRENCY": str(concurrency)})
        self.images_concurrency = concurrency
        self.wait_ping("images")

    def wait_ping(self, name):
        from celery import Celery
        control = Celery(broker=self.broker.url)
        destination = f"{name}@{platform.node()}"
        try:
            wait_for(lambda: self.alive() and control.control.ping(destination=[destination],
                                                                    timeout=1.0),
                     120, 0.5, f"worker {destination} to answer ping")
        finally:
            control.close()

    def alive(self):
        for process in (self.web, self.capture, self.images, self.beat):
            if process is not None and not process.alive():
                raise RuntimeError(f"{process.name} exited; see {process.log_path}")
        return True

    def idle(self):
        """Whether every queue is empty and no message is delivered but unacknowledged."""
        waiting, unacked = self.broker.lengths()
        return not any(waiting.values()) and not unacked

    def roots(self):
        """The root process of each part (None: not measured, an outside server)."""
        return {"web": self.web.pid, "capture (stand-in)": self.capture.pid,
                "images": self.images.pid, "beat": self.beat.pid if self.beat else None,
                "broker": self.broker.pid, "results (Redis)": self.broker.results_pid,
                "database": self.database.pid}

    def post(self, urls):
        import http.client
        started = time.monotonic()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        try:
            connection.request("POST", "/api/v1/bundles", json.dumps({"urls": urls}),
                               {"Content-Type": "application/json"})
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        if response.status != 202:
            raise RuntimeError(f"POST /api/v1/bundles answered {response.status}: {body[:300]!r}")
        return json.loads(body)["id"], (time.monotonic() - started) * 1000

    def log_counts(self):
        """Lines so far in the logs: errors (web and workers), capture and thumbnail tasks
        run, and captures the watchdog sent (a shot's second message finds it taken)."""
        counts = {"errors": 0, "capture_tasks": 0, "process_tasks": 0, "watchdog_resent": 0}
        for name in ("web", "capture", "images"):
            with open(self.logs / f"{name}.log", errors="replace") as handle:
                for line in handle:
                    if " ERROR " in line or "Traceback" in line:
                        counts["errors"] += 1
                    elif "Task shots.process[" in line and " succeeded " in line:
                        counts["process_tasks"] += 1
                    elif "Task shots.capture[" in line and " succeeded " in line:
                        counts["capture_tasks"] += 1
                    elif "watchdog: sending" in line:
                        counts["watchdog_resent"] += int(line.split("sending ")[1].split()[0])
        return counts


# ---------------------------------------------------------------- what is sampled

class Monitor(threading.Thread):
    """Every `interval` s: each queue's length, and the CPU seconds of every process of each
    part (followed per process from its first sample to its last; a process born during
    the run counts from zero)."""

    def __init__(self, stack, interval=0.5):
        super().__init__(daemon=True)
        self.stack, self.interval = stack, interval
        self.timeline = []
        self.first, self.last, self.role = {}, {}, {}
        self.samples = 0
        self._halt = threading.Event()
        self.t0 = time.time()
        self.machine0 = psutil.cpu_times()

    def _cpu(self):
        me = psutil.Process()
        found = [("bench", me)]
        for role, pid in self.stack.roots().items():
            if pid is None:
                continue
            try:
                root = psutil.Process(pid)
                found += [(role, p) for p in [root, *root.children(recursive=True)]]
            except psutil.NoSuchProcess:
                pass
        for role, process in found:
            try:
                with process.oneshot():
                    key = (process.pid, process.create_time())
                    times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            seconds = times.user + times.system
            if key not in self.first:
                self.first[key] = seconds if self.samples == 0 else 0.0
                self.role[key] = role
            self.last[key] = seconds

    def sample(self):
        waiting, unacked = self.stack.broker.lengths()
        self.timeline.append({"t": round(time.time() - self.t0, 2), **waiting,
                              "unacked": unacked})
        self._cpu()
        self.samples += 1

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
        machine = psutil.cpu_times()
        busy = sum(machine) - machine.idle - getattr(machine, "iowait", 0) - (
            sum(self.machine0) - self.machine0.idle - getattr(self.machine0, "iowait", 0))
        by_role, busiest = {role: 0.0 for role in ROLES}, {role: 0.0 for role in ROLES}
        for key, last in self.last.items():
            used = last - self.first[key]
            by_role[self.role[key]] += used
            busiest[self.role[key]] = max(busiest[self.role[key]], used)
        measured = {role: pid is not None for role, pid in self.stack.roots().items()}
        return {"wall": wall, "cpu_s": by_role, "busiest_process_s": busiest,
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
    finished = sorted(epoch(r["finished_at"]) for r in rows if r["finished_at"])
    wall = finished[-1] - t0
    lo, hi = finished[len(finished) // 10], finished[len(finished) * 9 // 10]
    steady = (len(finished) * 8 // 10) / (hi - lo) if hi > lo else None

    def phase(start, end):
        values = [(epoch(r[end]) - epoch(r[start])) * 1000 for r in done
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


# ---------------------------------------------------------------- the report

def fmt(value, digits=1):
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def table(title, headers, rows):
    print(f"\n### {title}\n")
    print("| " + " | ".join(headers) + " |")
    print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|")
    for row in rows:
        print("| " + " | ".join(fmt(c) for c in row) + " |")


def over_time(timeline, queue):
    """The queue's length at 0%, 10% … 100% of the run (capture: all three lanes)."""
    names = QUEUES[:3] if queue == "capture" else (queue,)
    picks = [timeline[round(k * (len(timeline) - 1) / 10)] for k in range(11)]
    return [sum(sample[name] or 0 for name in names) for sample in picks]


def verdict(run):
    """What the figures of one run say saturated first, in one line."""
    cpu, wall = run["cpu"], run["cpu"]["wall"]
    parts = []
    busy = cpu["machine_busy_s"] / wall / cpu["cores"]
    if busy >= 0.9:
        parts.append(f"the machine's {cpu['cores']} cores were {busy:.0%} busy")
    full = [f"{role} ({cpu['busiest_process_s'][role] / wall:.2f} cores)" for role in ROLES
            if cpu["busiest_process_s"][role] / wall >= 0.85]
    if full:
        parts.append("a single process near one full core: " + ", ".join(full))
    queues = run["queues"]
    capture = max(queues.get(q, {}).get("mean", 0) for q in QUEUES[:3])
    grew = max((("capture lanes", capture), ("images", queues["images"]["mean"]),
                ("default (dispatch, settle)", queues["default"]["mean"])),
               key=lambda item: item[1])
    if grew[1] >= 1:
        parts.append(f"the queue that waited longest was {grew[0]} (mean {grew[1]:.0f})")
    captures = round((run["capture_tasks_per_shot"] - 1) * run["shots"])
    thumbnails = round((run["process_tasks_per_shot"] - 1) * run["shots"])
    if captures > 0 or thumbnails > 0:
        parts.append(f"{captures} capture and {thumbnails} thumbnail tasks ran more than once "
                     f"per shot (the watchdog sent {run['watchdog_resent']} captures)")
    return "; ".join(parts) or "nothing saturated"


def report(runs):
    table("Throughput (submit → dispatch → capture (stand-in) → thumbnail → settled)",
          ["images processes", "load", "shots", "wall s", "shots/s end to end",
           "shots/s steady (10–90%)", "queues empty s later", "POST p50 ms", "POST max ms",
           "not done", "capture tasks per shot", "thumbnail tasks per shot",
           "captures the watchdog sent", "log errors"],
          [[r["images"], r["label"], r["shots"], r["wall_s"], r["shots_per_s"],
            r["steady_shots_per_s"], r["drain_s"], r["post_ms"]["p50"], r["post_ms"]["max"],
            r["shots"] - r["done"], r["capture_tasks_per_shot"], r["process_tasks_per_shot"],
            r["watchdog_resent"],
            r["log_errors"]] for r in runs])

    def cores(r, role):
        return r["cpu"]["cpu_s"][role] / r["cpu"]["wall"] if r["cpu"]["measured"][role] else None

    def c(value):  # cores, to two places
        return None if value is None else f"{value:.2f}"

    table("CPU, in cores (CPU seconds ÷ wall seconds); busiest = its busiest single process",
          ["images", "load", *ROLES, "busiest images process", "busiest broker process",
           "machine busy", "others"],
          [[r["images"], r["label"], *[c(cores(r, role)) for role in ROLES],
            c(r["cpu"]["busiest_process_s"]["images"] / r["cpu"]["wall"]),
            c(r["cpu"]["busiest_process_s"]["broker"] / r["cpu"]["wall"]),
            c(r["cpu"]["machine_busy_s"] / r["cpu"]["wall"]),
            c(r["cpu"]["others_s"] / r["cpu"]["wall"])] for r in runs])
    table("CPU ms per shot, by part",
          ["images", "load", *ROLES, "all of shootflow"],
          [[r["images"], r["label"],
            *[(r["cpu"]["cpu_s"][role] * 1000 / r["shots"]) if r["cpu"]["measured"][role]
              else None for role in ROLES],
            sum(r["cpu"]["cpu_s"][role] for role in ROLES if role != "bench") * 1000 / r["shots"]]
           for r in runs])
    table("Queues (messages waiting, sampled every 0.5 s) and where a shot waited (ms, p50)",
          ["images", "load", "capture lanes max", "mean", "images max", "mean", "default max",
           "unacked max", "queued → sent", "sent → capture starts", "capture task",
           "captured → done", "queued → done p50", "p95"],
          [[r["images"], r["label"],
            max(r["queues"].get(q, {}).get("max", 0) for q in QUEUES[:3]),
            sum(r["queues"].get(q, {}).get("mean", 0) for q in QUEUES[:3]),
            r["queues"]["images"]["max"], r["queues"]["images"]["mean"],
            r["queues"]["default"]["max"], r["queues"].get("unacked", {}).get("max"),
            r["phases_ms"]["queued_to_dispatched"]["p50"],
            r["phases_ms"]["dispatched_to_started"]["p50"],
            r["phases_ms"]["started_to_captured"]["p50"],
            r["phases_ms"]["captured_to_done"]["p50"],
            r["phases_ms"]["queued_to_done"]["p50"], r["phases_ms"]["queued_to_done"]["p95"]]
           for r in runs])
    table("Per shot: Redis commands (with RabbitMQ: the result store's), Redis memory kept "
          "(results live 24 h), database commits, media bytes",
          ["images", "load", "Redis commands", "Redis keys kept", "Redis bytes kept",
           "DB commits", "PNG kB", "thumbnail kB"],
          [[r["images"], r["label"], r["broker_commands_per_shot"], r["broker_keys_per_shot"],
            r["broker_memory_per_shot"], r["db_commits_per_shot"],
            r["image_bytes_per_shot"] / 1000, r["thumbnail_bytes_per_shot"] / 1000]
           for r in runs])
    table("Queue lengths over each run, at every tenth of it (capture = its three lanes)",
          ["images", "load", "queue", *[f"{k * 10}%" for k in range(11)]],
          [[r["images"], r["label"], queue, *over_time(r["timeline"], queue)]
           for r in runs for queue in ("capture", "images", "default")])
    print("\n### What saturated first\n")
    for r in runs:
        print(f"- images {r['images']}, {r['label']}: {verdict(r)}")


# ---------------------------------------------------------------- main

def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--delay", type=int, default=200, help="ms each stand-in capture takes")
    parser.add_argument("--capture-processes", type=int, default=16)
    parser.add_argument("--capture-pool", choices=("prefork", "threads"), default="prefork")
    parser.add_argument("--images", default="1,2,4",
                        help="images worker concurrencies to run, comma-separated")
    parser.add_argument("--bundles", type=int, default=20)
    parser.add_argument("--size", type=int, default=100, help="URLs per bundle")
    parser.add_argument("--big", type=int, default=1000, help="URLs of the one big bundle; 0: none")
    parser.add_argument("--small", type=int, default=300,
                        help="one-URL bundles submitted by --clients clients at once; 0: none")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite",
                        help="a temporary SQLite file, or a private PostgreSQL server")
    parser.add_argument("--database-url", help="an existing, empty database (migrated here)")
    parser.add_argument("--broker", choices=("redis", "amqp"), default="redis",
                        help="a private redis-server, or a private RabbitMQ node")
    parser.add_argument("--broker-url", help="an existing broker (redis://… or amqp://…); "
                        "with AMQP the results go to a private redis-server")
    parser.add_argument("--beat", action=argparse.BooleanOptionalAction, default=True,
                        help="run the Procfile's beat (the watchdog), as `make run` does")
    parser.add_argument("--out", type=Path, default=OUT, help="where the figures go (JSON)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    args = parser.parse_args(argv)
    args.images = [int(n) for n in args.images.split(",") if n.strip()]
    if args.broker_url:
        from shootflow.config import broker_kind
        args.broker = broker_kind(args.broker_url)
        if args.broker is None:
            parser.error("--broker-url must start redis:// or amqp://")
    if args.database_url:
        args.database = "sqlite" if args.database_url.startswith("sqlite") else "postgresql"
    return args


def _interrupt(*_):
    raise KeyboardInterrupt


def main(argv=None):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    work = Path(tempfile.mkdtemp(prefix="shootflow-controlplane-"))
    procs, broker, database, runs = Processes(), None, None, []
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
                if k not in ("broker_url", "database_url")}
    try:
        broker = Broker(args.broker, args.broker_url, work)
        database = Database(args.database, args.database_url, work)
        stack = Stack(procs, work, broker, database, args)
        print(f"broker: {broker.described}; database: {database.described}; "
              f"stand-in captures: {args.capture_processes} at once ({args.capture_pool} pool), "
              f"{args.delay} ms each; web: the Procfile's gunicorn; work folder {work}",
              file=sys.stderr, flush=True)
        stack.start(args.images[0])
        versions = {"broker": broker.version(), "database": database.version(),
                    "python": platform.python_version(), "cores": psutil.cpu_count(),
                    "load_at_start": os.getloadavg()}
        loads = [(f"{args.bundles}×{args.size}", args.bundles, args.size, 1)] * (args.bundles > 0)
        if args.big:
            loads.append((f"1×{args.big}", 1, args.big, 1))
        if args.small:
            loads.append((f"{args.small}×1, {args.clients} clients", args.small, 1,
                          args.clients))
        for images in args.images:
            if images != stack.images_concurrency:
                stack.start_images(images)
            run_load(stack, "warm-up", 1, 20, f"w{images}")  # imports, connections, caches
            for label, bundles, size, clients in loads:
                print(f"  · images {images}: {label} …", file=sys.stderr, flush=True)
                runs.append(run_load(stack, label, bundles, size, f"i{images}-{len(runs)}",
                                     clients))
                print(f"    {runs[-1]['shots_per_s']:.1f} shots/s", file=sys.stderr, flush=True)
        print(f"\n## The control plane's limit: broker {broker.described}, database "
              f"{database.described}; {args.capture_processes} stand-in captures at once "
              f"({args.capture_pool} pool), {args.delay} ms per capture; {versions['broker']}, "
              f"{versions['database']}, Python {versions['python']}, {versions['cores']} cores, "
              f"load average at start {' '.join(f'{v:.2f}' for v in versions['load_at_start'])}")
        report(runs)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"settings": settings, "broker": broker.described,
                                   "database": database.described, "versions": versions,
                                   "runs": runs}, indent=1, default=str))
        print(f"\nFigures in {args.out}")
    except BaseException:
        if runs:
            partial = args.out.with_suffix(".partial.json")
            partial.parent.mkdir(parents=True, exist_ok=True)
            partial.write_text(json.dumps({"settings": settings, "runs": runs}, default=str))
        print(f"logs in {work / 'logs'}", file=sys.stderr)
        args.keep = True
        raise
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second TERM does not cut the clean-up
        procs.stop_all()
        for server in (database, broker):
            if server is not None:
                server.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
