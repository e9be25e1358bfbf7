"""Real processes the tests run: redis-server, a Celery worker, a page server, the web app."""
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition, timeout=60, interval=0.1, message="condition"):
    """Poll condition() until it returns something truthy; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


class RedisServer:
    def __init__(self, workdir):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_for(self._answers, timeout=20, message="redis-server to answer")

    def _answers(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


class CeleryWorker:
    """`celery worker` as a user runs it, on all three queues."""

    def __init__(self, env, logfile, queues="capture,images,default", concurrency=2):
        self.logfile = logfile
        self.name = f"test-{os.getpid()}-{free_port()}@localhost"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "wsgi:celery_app", "worker",
             "-Q", queues, "--concurrency", str(concurrency), "--hostname", self.name,
             "--loglevel", "INFO", "--without-gossip", "--without-mingle"],
            cwd=ROOT, env=env, stdout=open(logfile, "ab"), stderr=subprocess.STDOUT,
            start_new_session=True)

    def wait_ready(self, celery_app):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited; see {self.logfile}")
            replies = celery_app.control.ping(destination=[self.name], timeout=0.5)
            return bool(replies)
        wait_for(ready, timeout=60, message="the Celery worker to answer ping")

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


PAGE = """<!doctype html><html><head><title>{title}</title></head>
<body style="margin:0;background:{color};font:24px sans-serif">
<h1 style="margin:40px">{title}</h1><p style="margin:40px">{text}</p></body></html>"""


class _PageHandler(BaseHTTPRequestHandler):
    """/page?title=..&color=..  /redirect?to=..  /status?code=..  /slow (never finishes)"""

    def do_GET(self):
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", query.get("to", "/page"))
            self.end_headers()
        elif parts.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html><head><title>slow</title></head><body>loading")
            self.wfile.flush()
            self.server.stop.wait(600)
        else:
            code = int(query.get("code", 200)) if parts.path == "/status" else 200
            body = PAGE.format(title=query.get("title", "Test page"),
                               color=query.get("color", "#ffffff"),
                               text=query.get("text", "A page served by the tests."))
            self.send_response(code)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


class PageServer:
    def __init__(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _PageHandler)
        self.server.daemon_threads = True
        self.server.stop = threading.Event()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path="/page", **query):
        from urllib.parse import urlencode
        return f"{self.base}{path}" + (f"?{urlencode(query)}" if query else "")

    def stop(self):
        self.server.stop.set()
        self.server.shutdown()


class LiveServer:
    """The Flask app served by werkzeug in a thread, for the browser tests."""

    def __init__(self, app):
        from werkzeug.serving import make_server
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
