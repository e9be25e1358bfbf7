"""The product's processes in a control-plane run: web and images as the Procfile starts
them, beat (the watchdog), and the capture worker with the stand-in engine of
bench/standin.py, all on the run's own broker, database, media and instance folders."""
import os
import platform
import subprocess
import sys
from pathlib import Path

from bench.api import post_bundle
from bench.procs import ROOT, check_alive, free_port, port_open, procfile, scrubbed_environ
from bench.procs import wait_for, wait_workers

BIN = Path(sys.executable).parent


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
        # Only these settings: none of the caller's shell's SHOOTFLOW_* variables.
        self.env = procs.env({
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
        }, base=scrubbed_environ())
        self.web = self.capture = self.images = self.beat = None
        self.images_concurrency = None
        self.with_beat = args.beat

    def _start(self, name, command, extra=None):
        return self.procs.start_command(name, command, {**self.env, **(extra or {})},
                                        self.work)

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
        wait_workers(self.broker.url, [name], platform.node(), self.alive, timeout=120)

    def alive(self):
        return check_alive((self.web, self.capture, self.images, self.beat))

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
        return post_bundle(self.port, urls)

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
