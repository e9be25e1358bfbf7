"""Configuration: safe one-machine defaults, every deployment knob from the environment."""
import logging
import os
import re
import secrets
from pathlib import Path

from .netpolicy import parse_networks

log = logging.getLogger(__name__)
BASE_DIR = Path(__file__).resolve().parent.parent
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
_HOST = re.compile(r"^(\.?[a-z0-9-]+(\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])$")


def instance_dir(environ=os.environ):
    """This installation's private folder (database, images, keys); relative to the checkout."""
    return BASE_DIR / (environ.get("SHOOTFLOW_INSTANCE_DIR") or "instance")


def private_file(path, make):
    """The text kept in path; the first process to ask writes make() there, mode 0600.

    Processes that start together (web, workers, Flower) must agree, and none may read a
    half-written file: the text goes into a new file (O_CREAT|O_EXCL, 0600) under a
    temporary name, which is then linked to path. Linking fails with EEXIST if another
    process got there first, and then its text is the one every process uses."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(make() + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink(missing_ok=True)
    if path.stat().st_mode & 0o077:
        log.warning("%s can be read by other users of this machine; run chmod 600 on it", path)
    text = path.read_text().strip()
    if not text:
        raise RuntimeError(f"{path} is empty; delete it and start again (a new one is made)")
    return text


def secret_key(directory):
    """The key that signs sessions and CSRF tokens, made once per instance folder."""
    return private_file(Path(directory) / "secret_key", lambda: secrets.token_hex(32))


def _int(name, default):
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise RuntimeError(f"{name} must be a whole number, got {raw!r}") from None


def _switch(name, default):
    raw = os.environ.get(name, default).strip().lower()
    if raw not in ("on", "off"):
        raise RuntimeError(f"{name} must be 'on' or 'off', got {raw!r}")
    return raw == "on"


def _trusted_hosts(raw, bind):
    """Host names the web app answers to: the listed ones, else the bind address and loopback."""
    if not raw.strip():
        raw = ",".join((bind, *LOOPBACK_HOSTS))
    hosts = []
    for entry in filter(None, (part.strip().lower() for part in raw.split(","))):
        if entry == "*":
            return None
        if ":" in entry and not entry.startswith("["):
            entry = f"[{entry}]"  # an IPv6 address, written as a Host header has it
        if not _HOST.match(entry):
            raise RuntimeError(
                f"SHOOTFLOW_TRUSTED_HOSTS lists host names without scheme or port "
                f"(example.com, .example.com for its subdomains, [::1], or *), got {entry!r}")
        hosts.append(entry)
    if not hosts:
        raise RuntimeError("SHOOTFLOW_TRUSTED_HOSTS lists no host name")
    return list(dict.fromkeys(hosts))


# The database URL schemes accepted, and the driver each uses. SQLAlchemy would read a plain
# postgresql:// URL as psycopg2 (and postgres:// not at all); shootflow ships psycopg 3.
DATABASE_SCHEMES = {
    "sqlite": "sqlite",
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",
}


def _scheme(url):
    scheme, separator, _ = url.partition("://")
    return scheme.lower() if separator else ""


def _given(url):
    """What a refused URL looked like, without the rest, which may hold a password."""
    scheme, separator, _ = url.partition("://")
    return f"a URL starting {scheme + separator!r}" if separator else "no URL scheme"


def database_url(raw):
    """The SQLAlchemy URL for SHOOTFLOW_DATABASE_URL, with the driver shootflow ships."""
    raw = raw.strip()
    driver = DATABASE_SCHEMES.get(_scheme(raw))
    if driver is None:
        raise RuntimeError(
            "SHOOTFLOW_DATABASE_URL must be sqlite:///PATH or "
            f"postgresql://USER:PASSWORD@HOST[:PORT]/DATABASE, got {_given(raw)}")
    return f"{driver}://{raw.partition('://')[2]}"


# The brokers shootflow runs on, by URL scheme: Redis, or RabbitMQ over AMQP (py-amqp, which
# comes with Celery). Chords keep their counters in the result store, which must be Redis.
BROKER_KINDS = {"redis": "redis", "rediss": "redis",
                "amqp": "amqp", "amqps": "amqp", "pyamqp": "amqp"}
RESULT_SCHEMES = ("redis", "rediss")
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"


def broker_kind(url):
    """'redis' or 'amqp' (RabbitMQ): which broker a broker URL names, or None."""
    return BROKER_KINDS.get(_scheme(url))


def broker_urls(environ):
    """(broker URL, result backend URL) from SHOOTFLOW_BROKER_URL and SHOOTFLOW_RESULT_BACKEND.

    The result store defaults to the broker when that is Redis. RabbitMQ keeps no results
    a chord can count on, so with an AMQP broker the result store must be named too."""
    broker = environ.get("SHOOTFLOW_BROKER_URL", "").strip() or DEFAULT_BROKER_URL
    kind = broker_kind(broker)
    if kind is None:
        raise RuntimeError(
            "SHOOTFLOW_BROKER_URL must be redis://HOST[:PORT]/DB or, for RabbitMQ, "
            f"amqp://USER:PASSWORD@HOST[:PORT]/VHOST, got {_given(broker)}")
    result = environ.get("SHOOTFLOW_RESULT_BACKEND", "").strip()
    if not result and kind == "amqp":
        raise RuntimeError(
            "SHOOTFLOW_BROKER_URL is RabbitMQ (amqp://), which keeps no task results, and "
            "SHOOTFLOW_RESULT_BACKEND is not set: bundles are Celery chords, whose counters "
            "need a result store. Set SHOOTFLOW_RESULT_BACKEND=redis://HOST:6379/0 as well.")
    result = result or broker
    if _scheme(result) not in RESULT_SCHEMES:
        raise RuntimeError(
            "SHOOTFLOW_RESULT_BACKEND must be redis://HOST[:PORT]/DB (chords keep their "
            f"counters there), got {_given(result)}")
    return broker, result


def _viewport(raw):
    try:
        width, height = (int(part) for part in raw.lower().split("x"))
    except ValueError:
        raise RuntimeError(
            f"SHOOTFLOW_VIEWPORT must look like 1280x800, got {raw!r}") from None
    if not (200 <= width <= 4000 and 200 <= height <= 4000):
        raise RuntimeError("SHOOTFLOW_VIEWPORT sides must be between 200 and 4000 pixels")
    return width, height


class Config:
    """Read once at app creation; tests subclass it or pass overrides."""

    def __init__(self):
        env = os.environ.get
        self.INSTANCE_DIR = str(instance_dir())
        # None: create_app uses the instance folder's own random key (see secret_key).
        self.SECRET_KEY = env("SHOOTFLOW_SECRET_KEY") or None
        self.SQLALCHEMY_DATABASE_URI = database_url(env(
            "SHOOTFLOW_DATABASE_URL", f"sqlite:///{Path(self.INSTANCE_DIR) / 'shootflow.db'}"))
        self.MEDIA_DIR = env("SHOOTFLOW_MEDIA_DIR", str(Path(self.INSTANCE_DIR) / "media"))
        self.BROKER_URL, self.RESULT_BACKEND = broker_urls(os.environ)
        self.MAX_BUNDLE_URLS = _int("SHOOTFLOW_MAX_BUNDLE_URLS", 1000)
        self.AUTH = _switch("SHOOTFLOW_AUTH", "off")
        # Failed sign-ins allowed per username and per client address in a moving window.
        self.LOGIN_TRIES_PER_USER = _int("SHOOTFLOW_LOGIN_TRIES_PER_USER", 10)
        self.LOGIN_TRIES_PER_ADDRESS = _int("SHOOTFLOW_LOGIN_TRIES_PER_ADDRESS", 30)
        self.LOGIN_WINDOW = _int("SHOOTFLOW_LOGIN_WINDOW", 900)
        # Checked by shootflow.web.security, not Flask's TRUSTED_HOSTS: Werkzeug 3.1 cannot
        # match a bracketed IPv6 host such as [::1]. None lets any host through.
        self.ALLOWED_HOSTS = _trusted_hosts(env("SHOOTFLOW_TRUSTED_HOSTS", ""),
                                            env("SHOOTFLOW_HOST", "127.0.0.1"))
        # Lax: other sites' forms and scripts get no cookie; links into shootflow still do.
        secure = _switch("SHOOTFLOW_SECURE_COOKIES", "off")
        self.SESSION_COOKIE_SAMESITE = self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_HTTPONLY = self.REMEMBER_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SECURE = self.REMEMBER_COOKIE_SECURE = secure
        self.PREFERRED_URL_SCHEME = "https" if secure else "http"
        self.URLS_PER_MINUTE = _int("SHOOTFLOW_URLS_PER_MINUTE", 3000)
        # Unfinished shots one client (one user, with auth on) may have at once.
        self.MAX_WAITING_SHOTS = _int("SHOOTFLOW_MAX_WAITING_SHOTS", 2000)
        self.VIEWPORT = _viewport(env("SHOOTFLOW_VIEWPORT", "1280x800"))
        self.PAGE_LOAD_TIMEOUT = _int("SHOOTFLOW_PAGE_LOAD_TIMEOUT", 30)
        self.BROWSER_MAX_CAPTURES = _int("SHOOTFLOW_BROWSER_MAX_CAPTURES", 100)
        # Captures of one user (or client) a browser context serves; 1: one per capture.
        self.CONTEXT_CAPTURES = _int("SHOOTFLOW_CONTEXT_CAPTURES", 50)
        if self.CONTEXT_CAPTURES < 1:
            raise RuntimeError("SHOOTFLOW_CONTEXT_CAPTURES must be 1 or more")
        self.CHROMIUM_PATH = env("SHOOTFLOW_CHROMIUM", "/usr/bin/chromium")
        self.CHROMEDRIVER_PATH = env("SHOOTFLOW_CHROMEDRIVER", "/usr/bin/chromedriver")
        # Non-public networks pages may still be captured from (CIDRs); none by default.
        self.ALLOWED_NETWORKS = parse_networks(env("SHOOTFLOW_ALLOWED_NETWORKS", ""))
        self.FLOWER_URL = env("SHOOTFLOW_FLOWER_URL", "http://127.0.0.1:%d/"
                              % _int("SHOOTFLOW_FLOWER_PORT", 5555))
        self.VISIBILITY_TIMEOUT = _int("SHOOTFLOW_VISIBILITY_TIMEOUT", 3600)
        # How often the watchdog looks for work the broker or a worker lost, and how long
        # a capture's silence (no heartbeat) or a sent capture's absence from its queue
        # must last before it counts as lost and is sent again.
        self.WATCHDOG_INTERVAL = _int("SHOOTFLOW_WATCHDOG_INTERVAL", 15)
        self.STUCK_AFTER = _int("SHOOTFLOW_STUCK_AFTER", 60)
        # How many times a shot may be taken by a capture process whose worker is then lost
        # (killed, out of memory) before it fails saying so.
        self.CAPTURE_ATTEMPTS = _int("SHOOTFLOW_CAPTURE_ATTEMPTS", 3)
        if self.CAPTURE_ATTEMPTS < 1:
            raise RuntimeError("SHOOTFLOW_CAPTURE_ATTEMPTS must be 1 or more")
        # Webhooks: where their addresses point (shootflow's own, as callers reach it), and
        # how often a delivery is tried (after 10 s, 20 s, 40 s… by default).
        self.PUBLIC_URL = env("SHOOTFLOW_PUBLIC_URL", "http://%s:%d" % (
            env("SHOOTFLOW_HOST", "127.0.0.1"), _int("PORT", 5000)))
        self.WEBHOOK_ATTEMPTS = _int("SHOOTFLOW_WEBHOOK_ATTEMPTS", 5)
        self.WEBHOOK_BACKOFF = _int("SHOOTFLOW_WEBHOOK_BACKOFF", 10)
        # Watches: how often beat looks for due runs, and how close a schedule's runs may be.
        self.WATCH_TICK = _int("SHOOTFLOW_WATCH_TICK", 15)
        self.MIN_WATCH_INTERVAL = _int("SHOOTFLOW_MIN_WATCH_INTERVAL", 60)
        # How many of each watch's captures are kept; older ones are deleted with their files.
        self.WATCH_KEEP = _int("SHOOTFLOW_WATCH_KEEP", 100)
        if self.WATCH_KEEP < 2:
            raise RuntimeError("SHOOTFLOW_WATCH_KEEP must be 2 or more (a change needs two)")
        # How many `POST /api/v1/shots?wait=` requests one web process holds open at once;
        # the Procfile gives each 4 threads, so the pages always keep two.
        self.WAITING_REQUESTS = _int("SHOOTFLOW_WAITING_REQUESTS", 2)
        self.MAX_CONTENT_LENGTH = 2 * 1024 * 1024
        # A PostgreSQL server that restarts or fails over ends every open connection: each
        # is tested as it is taken from the pool, and made again if it is gone.
        self.SQLALCHEMY_ENGINE_OPTIONS = (
            {"pool_pre_ping": True} if self.SQLALCHEMY_DATABASE_URI.startswith("postgresql")
            else {})
