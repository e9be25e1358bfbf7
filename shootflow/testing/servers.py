"""Private servers that the tests and the bench start, each on free ports of its own and gone
once stopped: redis-server, PostgreSQL, RabbitMQ, and the web app in a thread. Nothing in the
product imports this package."""
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout: where wsgi.py is


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
    """A private redis-server; append-only like the Procfile's, so a restart keeps the queues.
    It listens on host: loopback, or an address other hosts reach, where Redis wants a
    password (one is made, and is in .url)."""

    def __init__(self, workdir, host="127.0.0.1"):
        self.host = host
        self.port = free_port()
        self.password = None if host == "127.0.0.1" else os.urandom(12).hex()
        secret = f":{self.password}@" if self.password else ""
        self.url = f"redis://{secret}{host}:{self.port}/0"
        self.workdir = workdir
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", self.host,
             "--save", "", "--appendonly", "yes", "--appendfsync", "no",
             "--dir", str(self.workdir),
             *(["--requirepass", self.password] if self.password else [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_for(self._answers, timeout=20, message="redis-server to answer")

    def _answers(self):
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))  # answering
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
    on a free port of host only (127.0.0.1 unless other hosts must reach it; trust
    authentication, user `postgres`), its socket in that folder. PostgreSQL refuses to run as root, so as root it runs as `nobody` (or a
    system user made for it where there is none). Each create_database() gives a fresh,
    empty database. stop() removes the folder."""

    def __init__(self, host="127.0.0.1"):
        import tempfile
        self.host = host
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
            if host != "127.0.0.1":  # initdb lets in loopback only
                with open(self.data / "pg_hba.conf", "a") as rules:
                    rules.write("host all all 0.0.0.0/0 trust\n")
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
        settings = {"listen_addresses": self.host, "port": self.port,
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
        return f"postgresql://postgres@{self.host}:{self.port}/{database}"

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
    the Erlang distribution port and an epmd, all on free ports (of 127.0.0.1 but AMQP's); its
    settings, Erlang cookie and log in root, its database (queues, messages, users) in
    root/data, which is .workdir. AMQP listens on host: on loopback the user guest connects
    (from loopback only, as by default); on an address other hosts reach, a user `shootflow`
    with a password made here (both in .url), as the README's recipe has it.

    It runs the package's own start script, in the foreground. Not /usr/sbin/rabbitmq-server:
    that wrapper switches to the `rabbitmq` user and to the machine's node under
    /var/lib/rabbitmq; the script runs as whoever starts it, root included.

    start, stop and kill(wipe) do what RedisServer's do: durable queues and persistent
    messages outlive a stop or a kill; a wipe deletes the database, so the node comes back
    empty. stop() also ends its epmd: nothing is left running."""

    def __init__(self, root, host="127.0.0.1"):
        if not RABBITMQ_SERVER.exists():
            raise RuntimeError("RabbitMQ is not installed (Debian's package: rabbitmq-server); "
                               "`make test BROKER=amqp` installs it")
        self.root = Path(root)
        self.workdir = self.root / "data"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port, self.dist_port, self.epmd_port = _free_ports(3)
        self.node = f"shootflow-test-{self.port}@localhost"
        self.log = self.root / "rabbitmq.log"
        if host == "127.0.0.1":
            user, password, users = "guest", "guest", "loopback_users.guest = true\n"
        else:
            user, password = "shootflow", os.urandom(12).hex()
            users = f"default_user = {user}\ndefault_pass = {password}\n"
        self.url = f"amqp://{user}:{password}@{host}:{self.port}//"
        (self.root / "rabbitmq.conf").write_text(f"listeners.tcp.1 = {host}:{self.port}\n{users}")
        (self.root / "enabled_plugins").write_text("[].\n")
        (self.root / "rabbitmq-env.conf").write_text("")  # not the machine's /etc/rabbitmq one
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8",
            "HOME": str(self.root),  # where Erlang keeps the node's cookie
            "RABBITMQ_NODENAME": self.node, "RABBITMQ_NODE_IP_ADDRESS": host,
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


class LiveServer:
    """The Flask app served by werkzeug in a thread, for the browser tests."""

    def __init__(self, app):
        from werkzeug.serving import make_server
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
