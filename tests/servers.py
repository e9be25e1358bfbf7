"""Real processes the tests run: redis-server, PostgreSQL, RabbitMQ, a Celery worker, a page
server, the web app."""
import base64
import collections
import html
import os
import shutil
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
    """A private redis-server; append-only like the Procfile's, so a restart keeps the queues."""

    def __init__(self, workdir):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "yes", "--appendfsync", "no",
             "--dir", str(self.workdir)],
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

    def kill(self, wipe=False):
        """Kill the server outright; with wipe, delete its files, so it comes back empty."""
        self.proc.kill()
        self.proc.wait(10)
        if wipe:
            for path in self.workdir.iterdir():
                shutil.rmtree(path) if path.is_dir() else path.unlink()


def _unprivileged_account():
    import pwd
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        name = "shootflow-tests"
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                        "--shell", "/usr/sbin/nologin", name], capture_output=True)
        return pwd.getpwnam(name)


def postgres_bin_dir():
    """Where Debian's `postgresql` package put initdb and postgres (the newest version's),
    or None when it is not installed."""
    found = [path.parent for path in Path("/usr/lib/postgresql").glob("*/bin/postgres")]
    return max(found, key=lambda path: tuple(map(int, path.parent.name.split("."))),
               default=None)


class PostgresServer:
    """A private PostgreSQL server: a cluster made by initdb in a temporary folder, listening
    on a free port on 127.0.0.1 only (trust authentication, user `postgres`), its socket in
    that folder. PostgreSQL refuses to run as root, so as root it runs as `nobody` (or a
    system user made for it where there is none). Each create_database() gives a fresh,
    empty database. stop() removes the folder."""

    def __init__(self):
        import tempfile
        self.bin = postgres_bin_dir()
        if self.bin is None:
            raise RuntimeError("PostgreSQL is not installed (Debian's package: postgresql); "
                               "`make test DATABASE=postgresql` installs it")
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="shootflow-postgres-"))
        self.data = self.workdir / "data"
        self.log = self.workdir / "postgres.log"
        self.run_as = {}  # ourselves, unless we are root
        if os.geteuid() == 0:
            account = _unprivileged_account()
            self.run_as = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
            os.chown(self.workdir, account.pw_uid, account.pw_gid)
        self.proc = None
        try:
            self._run(["initdb", "--pgdata", str(self.data), "--username", "postgres",
                       "--auth", "trust", "--encoding", "UTF8", "--locale", "C", "--no-sync"])
            self.start()
        except BaseException:
            self.stop()
            raise

    def _run(self, command):
        done = subprocess.run([str(self.bin / command[0]), *command[1:]], cwd=self.workdir,
                              env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                                   "LC_ALL": "C"},
                              capture_output=True, text=True, **self.run_as)
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {done.stdout}{done.stderr}")

    def start(self):
        # Durability settings off (a test database dies with the run anyway). A time zone
        # far from UTC: a naive UTC datetime compared with an aware one is then wrong by
        # hours, not by nothing, so such a mistake fails the tests.
        settings = {"listen_addresses": "127.0.0.1", "port": self.port,
                    "unix_socket_directories": self.workdir, "max_connections": 300,
                    "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
                    "timezone": "Pacific/Chatham", "logging_collector": "off"}
        options = [f"--{name.replace('_', '-')}={value}" for name, value in settings.items()]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [str(self.bin / "postgres"), "-D", str(self.data), *options],
                cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
                start_new_session=True, **self.run_as)
        wait_for(self._answers, timeout=60, message="PostgreSQL to accept connections")

    def _answers(self):
        import psycopg
        if self.proc.poll() is not None:
            raise AssertionError(f"postgres exited:\n{self.log.read_text(errors='replace')}")
        try:
            with psycopg.connect(self.url("postgres"), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def url(self, database):
        """The URL a user would write in SHOOTFLOW_DATABASE_URL for one of its databases."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix="shootflow"):
        """A new, empty database; its URL."""
        import psycopg
        name = f"{prefix}_{os.urandom(4).hex()}".lower()
        with psycopg.connect(self.url("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self):
        """Stop the server (fast shutdown: open sessions are ended) and remove its files."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _free_ports(count):
    """count different free ports of 127.0.0.1."""
    ports = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


RABBITMQ_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")


class RabbitServer:
    """A private RabbitMQ node of Debian's `rabbitmq-server` package, as the tests' broker.

    Everything it has is its own: the node name shootflow-test-<port>@localhost, the AMQP port,
    the Erlang distribution port and an epmd, all on free ports of 127.0.0.1 only; its
    settings, Erlang cookie and log in root, its database (queues, messages, users) in
    root/data, which is .workdir. The user guest may connect from loopback only, as by default.

    It runs the package's own start script, in the foreground. Not /usr/sbin/rabbitmq-server:
    that wrapper switches to the `rabbitmq` user and to the machine's node under
    /var/lib/rabbitmq; the script runs as whoever starts it, root included.

    start, stop and kill(wipe) do what RedisServer's do: durable queues and persistent
    messages outlive a stop or a kill; a wipe deletes the database, so the node comes back
    empty. stop() also ends its epmd: nothing is left running."""

    def __init__(self, root):
        if not RABBITMQ_SERVER.exists():
            raise RuntimeError("RabbitMQ is not installed (Debian's package: rabbitmq-server); "
                               "`make test BROKER=amqp` installs it")
        self.root = Path(root)
        self.workdir = self.root / "data"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port, self.dist_port, self.epmd_port = _free_ports(3)
        self.node = f"shootflow-test-{self.port}@localhost"
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"
        self.log = self.root / "rabbitmq.log"
        (self.root / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.port}\n"
            "loopback_users.guest = true\n")
        (self.root / "enabled_plugins").write_text("[].\n")
        (self.root / "rabbitmq-env.conf").write_text("")  # not the machine's /etc/rabbitmq one
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8",
            "HOME": str(self.root),  # where Erlang keeps the node's cookie
            "RABBITMQ_NODENAME": self.node, "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port), "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.epmd_port), "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_MNESIA_BASE": str(self.workdir),
            "RABBITMQ_LOG_BASE": str(self.root / "log"), "RABBITMQ_LOGS": "-",
            "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.root / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(self.root / "rabbitmq-env.conf"),
            # Node-to-node traffic on loopback too; and no schedulers spinning while idle, on a
            # machine whose cores the browsers need.
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1} "
                                                   "+sbwt none +sbwtdcpu none +sbwtdio none",
        }
        self.proc = self.epmd = None
        try:
            self.start()
        except BaseException:
            self.stop()
            raise

    def start(self):
        if self.epmd is None or self.epmd.poll() is not None:
            self.epmd = subprocess.Popen(
                ["epmd", "-port", str(self.epmd_port), "-address", "127.0.0.1"],
                env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                start_new_session=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [str(RABBITMQ_SERVER)], cwd=self.root, env=self.env, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self._answers, timeout=90, interval=0.25, message="RabbitMQ to accept AMQP")

    def _answers(self):
        from kombu import Connection
        if self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise AssertionError(f"rabbitmq-server exited; the end of {self.log}:\n{tail}")
        connection = Connection(self.url, connect_timeout=2)
        try:
            connection.connect()
            return True
        except (OSError, *connection.connection_errors):
            return False
        finally:
            connection.release()

    def stop(self):
        """Stop the node as a supervisor would (SIGTERM: it closes its queues), and its epmd."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # the script passes it on to the Erlang VM
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if self.epmd is not None and self.epmd.poll() is None:
            self.epmd.terminate()
            self.epmd.wait(10)

    def kill(self, wipe=False):
        """Kill the node outright; with wipe, delete its database, so it comes back empty."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        if wipe:
            for path in self.workdir.iterdir():
                shutil.rmtree(path) if path.is_dir() else path.unlink()


class CeleryWorker:
    """`celery worker` as a user runs it, on every queue."""

    def __init__(self, env, logfile, queues="capture,capture.bulk,capture.scheduled,images,default", concurrency=2):
        self.logfile = logfile
        self.name = f"test-{os.getpid()}-{free_port()}@localhost"
        self.command = [sys.executable, "-m", "celery", "-A", "wsgi:celery_app", "worker",
                        "-Q", queues, "--concurrency", str(concurrency), "--hostname", self.name,
                        "--loglevel", "INFO", "--without-gossip", "--without-mingle"]
        self.env = env
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            self.command, cwd=ROOT, env=self.env, stdout=open(self.logfile, "ab"),
            stderr=subprocess.STDOUT, start_new_session=True)

    def restart(self, celery_app):
        self.stop()
        self.start()
        self.wait_ready(celery_app)

    def chromium_pids(self):
        """Chromium processes anywhere under the worker (its pool processes' browsers)."""
        from shootflow.capture.processes import tree
        return {p.pid for p in tree(self.proc.pid) if _is_chromium(p)}

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


class CeleryBeat:
    """`celery beat` as the Procfile runs it, with its own schedule file and log (`name`)."""

    def __init__(self, env, workdir, name):
        self.log = Path(workdir) / f"{name}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "wsgi:celery_app", "beat",
             "--schedule", str(Path(workdir) / f"{name}.schedule"), "--loglevel", "INFO"],
            cwd=ROOT, env=env, stdout=open(self.log, "wb"), stderr=subprocess.STDOUT)

    def ticks_sent(self, entry):
        """How many times this beat has sent the schedule's `entry`."""
        return self.log.read_text(errors="replace").count(f"Sending due task {entry} ")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def _is_chromium(proc):
    """A live (not yet reaped counts as dead) Chromium or ChromeDriver process."""
    import psutil

    from shootflow.capture.processes import BROWSER_NAMES, read
    return (read(proc, "status", psutil.STATUS_ZOMBIE) != psutil.STATUS_ZOMBIE
            and read(proc, "name") in BROWSER_NAMES)


def alive_chromium(pids):
    """Those of pids that are still running Chromium or ChromeDriver."""
    import psutil
    from shootflow.capture.processes import GONE
    alive = set()
    for pid in pids:
        try:
            if _is_chromium(psutil.Process(pid)):
                alive.add(pid)
        except GONE:
            pass
    return alive


PAGE = """<!doctype html><html><head><title>{title}</title></head>
<body style="margin:0;background:{color};font:24px sans-serif">
<h1 style="margin:40px">{heading}</h1><p style="margin:40px">{text}</p>{script}</body></html>"""


# Documents the capture-option tests look at, by name (/doc?name=…). Colours mark places:
# a test finds them in the image's pixels.
DOCS = {
    # 6,000 px: bands of 1,000 px alternating blue and yellow; the last band turns green
    # only once it has been scrolled into view (lazy content).
    "tall": """<!doctype html><html><head><title>tall</title><style>
body{margin:0} div{height:1000px} .a{background:#0000ff} .b{background:#ffff00}
#lazy{background:#ffffff}</style></head><body>
<div class="a"></div><div class="b"></div><div class="a"></div><div class="b"></div>
<div class="a"></div><div id="lazy"></div><script>
new IntersectionObserver((entries) => { if (entries[0].isIntersecting)
  document.getElementById("lazy").style.background = "#00ff00"; })
  .observe(document.getElementById("lazy"));</script></body></html>""",
    # 30,000 px of 1,000 px bands whose red channel counts the band: band n is (n*8, 0, 128).
    "very-tall": "<!doctype html><html><head><title>very tall</title><style>body{margin:0}"
                 "div{height:1000px}</style></head><body>"
                 + "".join(f'<div style="background:rgb({n * 8},0,128)"></div>'
                           for n in range(30)) + "</body></html>",
    # A white page that dark mode turns black.
    "dark": """<!doctype html><html><head><title>dark</title><style>
body{margin:0;height:100vh;background:#ffffff}
@media (prefers-color-scheme: dark){body{background:#000000}}</style></head><body></body>
</html>""",
    # A white page that reduced motion turns grey.
    "motion": """<!doctype html><html><head><title>motion</title><style>
body{margin:0;height:100vh;background:#ffffff}
@media (prefers-reduced-motion: reduce){body{background:#808080}}</style></head><body></body>
</html>""",
    # A 300x150 red box at (50, 60), and a blue full-width banner at the top.
    "elements": """<!doctype html><html><head><title>elements</title><style>
body{margin:0;background:#ffffff} #box{position:absolute;left:50px;top:60px;width:300px;
height:150px;background:#ff0000} .banner{position:fixed;left:0;right:0;bottom:0;
height:120px;background:#0000ff}</style></head><body><div id="box"></div>
<div class="banner" id="onetrust-banner-sdk"></div></body></html>""",
    # Turns green 300 ms after load, when a late element appears.
    "late": """<!doctype html><html><head><title>late</title><style>body{margin:0;
height:100vh;background:#ffffff}</style></head><body><script>
setTimeout(() => { const p = document.createElement("p"); p.id = "late";
  document.body.appendChild(p); document.body.style.background = "#00ff00"; }, 300);
</script></body></html>""",
    # Turns green once a request that takes 1 s, sent after load, has finished.
    "fetching": """<!doctype html><html><head><title>fetching</title><style>body{margin:0;
height:100vh;background:#ffffff}</style></head><body><script>
window.addEventListener("load", () => fetch("/slow?seconds=1").then((r) => r.text())
  .then(() => { document.body.style.background = "#00ff00"; }));</script></body></html>""",
    # A first-party script at a path EasyList blocks (/js/prebid.js), and a tracker host.
    "ads": """<!doctype html><html><head><title>ads</title></head><body>
<script src="/js/prebid.js"></script>
<img src="https://www.google-analytics.com/collect?v=1" alt=""></body></html>""",
    # A consent banner in the markup of orestbida/cookieconsent v2; its "Reject all" turns
    # the page green.
    "consent": """<!doctype html><html class="show--consent"><head><title>consent</title>
<style>body{margin:0;height:100vh;background:#ffffff}</style></head><body>
<div id="cc--main"><div id="cm"><p>We use cookies.</p><button id="s-all-bn">Accept all</button>
<button id="s-rall-bn">Reject all</button></div></div><script>
document.getElementById("s-rall-bn").onclick = () => {
  document.body.style.background = "#00ff00";
  document.getElementById("cc--main").remove(); };</script></body></html>""",
    # Nothing but white, for ever.
    "blank": """<!doctype html><html><head><title>blank</title><style>body{margin:0;
height:100vh;background:#ffffff}</style></head><body></body></html>""",
    # White at load; it paints its heading 1.5 s later.
    "slow-paint": """<!doctype html><html><head><title>slow paint</title><style>body{margin:0;
height:100vh;background:#ffffff;font:48px sans-serif}</style></head><body><script>
setTimeout(() => { document.body.innerHTML = "<h1>Painted at last</h1>"; }, 1500);
</script></body></html>""",
    "errors": """<!doctype html><html><head><title>errors</title></head><body><script>
console.error("something broke"); setTimeout(() => { throw new Error("late failure"); });
</script></body></html>""",
}

# A service worker that answers any page whose address asks for the title Victim itself:
# what a page could leave behind for the next capture of its origin.
POISONING_WORKER = """self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", event => event.waitUntil(self.clients.claim()));
self.addEventListener("fetch", event => {
  if (event.request.url.includes("title=Victim")) {
    event.respondWith(new Response("<title>Poisoned</title>poisoned",
                                   {headers: {"Content-Type": "text/html"}}));
  }
});"""
BASIC_AUTH = ("user", "secret")


class _PageHandler(BaseHTTPRequestHandler):
    """/page?title=..&color=..  /redirect?to=..  /status?code=..  /download  /slow
    /endless (a download that never ends)  /auth (HTTP basic, user:secret)  /worker.js"""

    def do_GET(self):
        self.server.requests[self.path] += 1
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", query.get("to", "/page"))
            self.end_headers()
        elif parts.path == "/download":
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Disposition", 'attachment; filename="data.bin"')
            self.end_headers()
            self.wfile.write(b"not a page" * 100)
        elif parts.path == "/endless":
            self._endless()
        elif parts.path == "/auth":
            self._auth()
        elif parts.path == "/echo":
            # What the browser sent, kept for the test: headers (cookies among them).
            self.server.seen[query.get("id", "")] = dict(self.headers.items())
            self._send(200, "text/html", PAGE.format(
                title=html.escape(self.headers.get("User-Agent", "")), heading="echo",
                color="#ffffff", text="", script=""))
        elif parts.path == "/flaky" and self.server.requests[self.path] <= int(
                query.get("fail", 2)):
            # The first `fail` requests for each /flaky?… address: the connection just
            # closes (Chromium tries a GET once more by itself, hence two by default).
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif parts.path == "/doc":
            self._send(200, "text/html; charset=utf-8", DOCS[query.get("name", "")])
        elif parts.path == "/mutable":  # whatever the test set with PageServer.set_page
            self._send(200, "text/html; charset=utf-8", self.server.mutable[query["id"]])
        elif parts.path == "/worker.js":
            self._send(200, "text/javascript", POISONING_WORKER)
        elif parts.path == "/status" and query.get("code") in ("204", "205"):
            self.send_response(int(query["code"]))  # no content, by definition
            self.end_headers()
        elif parts.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html><head><title>slow</title></head><body>loading")
            self.wfile.flush()
            # /slow never finishes; /slow?seconds=N finishes after N seconds.
            if not self.server.stop.wait(float(query.get("seconds", 600))):
                self.wfile.write(b"</body></html>")
        else:
            code = int(query.get("code", 200)) if parts.path == "/status" else 200
            title = query.get("title", "Test page")
            # The title goes in raw (inside <title> markup is text); the page shows it escaped.
            body = PAGE.format(title=title, heading=html.escape(title),
                               color=html.escape(query.get("color", "#ffffff")),
                               text=html.escape(query.get("text", "A page served by the tests.")),
                               script=f"<script>{query['script']}</script>"
                               if "script" in query else "")
            self.send_response(code)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body.encode())

    def _send(self, code, content_type, text, headers=()):
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _endless(self):
        """A download that goes on until the client hangs up (at about 6 MB/s); what was sent
        and whether the client hung up are kept in the server's .streams."""
        stream = {"sent": 0, "closed": False}
        self.server.streams.append(stream)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Disposition", 'attachment; filename="endless.bin"')
        self.end_headers()
        chunk = b"x" * 65536
        try:
            while not self.server.stop.wait(0.01):
                self.wfile.write(chunk)
                self.wfile.flush()
                stream["sent"] += len(chunk)
        except OSError:
            stream["closed"] = True

    def _auth(self):
        expected = "Basic " + base64.b64encode(":".join(BASIC_AUTH).encode()).decode()
        if self.headers.get("Authorization") == expected:
            self._send(200, "text/html", PAGE.format(
                title="Signed in", heading="Signed in", color="#ffffff", text="", script=""))
        else:
            self._send(401, "text/html", PAGE.format(
                title="Sign-in required", heading="Sign-in required", color="#ffffff",
                text="", script=""), [("WWW-Authenticate", 'Basic realm="tests"')])

    def log_message(self, *args):
        pass


class PageServer:
    def __init__(self, port=0):
        self.server = ThreadingHTTPServer(("127.0.0.1", port), _PageHandler)
        self.server.daemon_threads = True
        self.server.stop = threading.Event()
        self.server.streams = []  # /endless downloads: {"sent": bytes, "closed": bool}
        self.server.requests = collections.Counter()  # how often each path?query was asked
        self.server.seen = {}  # /echo?id=X: the headers of the last request with that id
        self.server.mutable = {}  # /mutable?id=X: the page the test set
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path="/page", **query):
        from urllib.parse import urlencode
        return f"{self.base}{path}" + (f"?{urlencode(query)}" if query else "")

    def set_page(self, page_id, html):
        """Serve html at /mutable?id=page_id from now on; returns that URL."""
        self.server.mutable[page_id] = html
        return self.url("/mutable", id=page_id)

    def seen(self, echo_id):
        """The request headers /echo?id=echo_id last received (None if never asked)."""
        return self.server.seen.get(echo_id)

    def loads(self, url):
        """How many times the page at url (made by .url) has been asked for."""
        return self.server.requests[url.removeprefix(self.base)]

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


class _CanaryHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<html><head><title>canary</title></head><body>canary</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args):
        pass


class _CanaryHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def process_request(self, request, client_address):
        self.canary.hit("tcp", client_address)  # counted on accept, before any HTTP
        super().process_request(request, client_address)


class CanaryServer:
    """A server on another loopback address that pages reach for and the guard must stop.

    It records every TCP connection it accepts and every UDP datagram (STUN, ...) that
    arrives on the same port number, so any contact at all shows up in .hits."""

    def __init__(self, host="127.0.0.2"):
        self.host = host
        self.hits = []
        self._lock = threading.Lock()
        self.server = _CanaryHTTPServer((host, 0), _CanaryHandler)
        self.server.canary = self
        self.port = self.server.server_address[1]
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((host, self.port))
        self.udp.settimeout(0.2)
        self._stop = threading.Event()
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        threading.Thread(target=self._read_udp, daemon=True).start()

    def _read_udp(self):
        while not self._stop.is_set():
            try:
                _, peer = self.udp.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            self.hit("udp", peer)

    def hit(self, protocol, peer):
        with self._lock:
            self.hits.append((protocol, peer))

    def url(self, path="/", scheme="http"):
        return f"{scheme}://{self.host}:{self.port}{path}"

    def protocols(self):
        with self._lock:
            return {protocol for protocol, _ in self.hits}

    def stop(self):
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
        self.udp.close()


BAIT = """<!doctype html><html><head><title>{title}</title>
<link rel=stylesheet href="{http}/style.css"><script src="{http}/script.js"></script></head>
<body style="margin:0;background:#00ff00"><h1>{title}</h1>
<iframe src="{http}/frame"></iframe><img src="{http}/image.png">
<script>
window.attempts = {{}};
function note(name, value) {{ window.attempts[name] = String(value); }}
fetch("{http}/fetch").then(r => note("fetch", r.status), e => note("fetch", "failed"));
fetch("{https}/fetch", {{mode: "no-cors"}}).then(r => note("https", r.type), e => note("https", "failed"));
const xhr = new XMLHttpRequest();
xhr.onloadend = () => note("xhr", xhr.status);
xhr.open("POST", "{http}/xhr"); xhr.send("x");
const ws = new WebSocket("{ws}/socket");
ws.onclose = () => note("websocket", "closed");
const pc = new RTCPeerConnection({{iceServers: [{{urls: "stun:{hostport}"}},
  {{urls: "turn:{hostport}?transport=tcp", username: "u", credential: "p"}}]}});
pc.createDataChannel("x");
pc.onicegatheringstatechange = () => pc.iceGatheringState == "complete" && note("webrtc", "done");
pc.createOffer().then(offer => pc.setLocalDescription(offer));
</script></body></html>"""
BAIT_ATTEMPTS = {"fetch", "https", "xhr", "websocket", "webrtc"}


class _BaitHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        canary = self.server.canary
        title = parse_qs(urlsplit(self.path).query).get("title", ["Bait"])[0]
        body = BAIT.format(title=html.escape(title), http=canary.url("").rstrip("/"),
                           https=canary.url("", scheme="https").rstrip("/"),
                           ws=canary.url("", scheme="ws").rstrip("/"),
                           hostport=f"{canary.host}:{canary.port}").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class BaitServer:
    """A page on 127.0.0.1 that reaches for a canary every way a page can: stylesheet,
    script, frame, image, fetch (http and https), XHR, WebSocket, STUN and TURN.
    The page records in window.attempts which of its scripted requests have finished."""

    def __init__(self, canary):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _BaitHandler)
        self.server.daemon_threads = True
        self.server.canary = canary
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, title="Bait"):
        from urllib.parse import quote
        return f"{self.base}/bait?title={quote(title)}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
