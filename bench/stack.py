"""The whole shootflow stack that bench.run measures: redis-server and the corpus page server
on free ports, a temporary SQLite database and media folder, the migrations, then web and
the Celery workers with the exact command lines of the Procfile. Also how the bench reads
the rows and the worker logs."""
import json
import os
import re
import select
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from bench.api import cancel_bundle, http_request, post_bundle
from bench.procs import ROOT, check_alive, free_port, port_open, procfile, scrubbed_environ
from bench.procs import wait_for, wait_workers

PY = sys.executable
BIN = Path(PY).parent
WORKERS = ("capture", "interactive", "images")  # the Procfile's Celery workers
ROOT_NAMES = {"capture": "capture worker (Celery)", "images": "images worker (Celery)",
              "interactive": "interactive capture worker (Celery)",
              "web": "web (gunicorn)", "redis": "redis-server", "pages_proc": "page server"}


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
        base = scrubbed_environ()
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
        return self.procs.start_command(name, self.procfile[name], self.env, self.work)

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
        wait_workers(self.redis_url, WORKERS, self.hostname, self._alive)

    def _alive(self):
        return check_alive((self.web, self.capture, self.interactive, self.images, self.redis,
                            self.pages_proc))

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

    # ------------------------------------------------------------ its processes

    def roots(self, which=(*WORKERS, "web", "redis", "pages_proc")):
        return [getattr(self, name).pid for name in which if getattr(self, name) is not None]

    def worker_roots(self):
        return self.roots(WORKERS)

    def root_names(self):
        return {getattr(self, attr).pid: name for attr, name in ROOT_NAMES.items()
                if getattr(self, attr) is not None}

    # ------------------------------------------------------------ the API

    def post_bundle(self, urls):
        return post_bundle(self.web_port, urls)

    def cancel(self, bundle_id):
        return cancel_bundle(self.web_port, bundle_id)

    # ------------------------------------------------------------ reading rows and logs

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
