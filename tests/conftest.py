"""Fixtures that start the real things: redis-server (or RabbitMQ), a Celery worker, Chromium,
the app."""
import os

import pytest

from shootflow.testing.pages import PageServer
from shootflow.testing.servers import (
    LiveServer,
    PostgresServer,
    RabbitServer,
    RedisServer,
    free_port,
)
from shootflow.testing.workers import CeleryBeat, CeleryWorker
from tests.canaries import CanaryServer

# The database the suite runs on: SHOOTFLOW_TEST_DATABASE=postgresql runs it on a private
# PostgreSQL server (`make test DATABASE=postgresql`), else SQLite files.
DATABASES = ("sqlite", "postgresql")
DATABASE = os.environ.get("SHOOTFLOW_TEST_DATABASE", "").strip().lower() or "sqlite"
if DATABASE not in DATABASES:
    raise pytest.UsageError(f"SHOOTFLOW_TEST_DATABASE must be one of {', '.join(DATABASES)}, "
                            f"not {DATABASE!r}")

# The broker the suite runs on: SHOOTFLOW_TEST_BROKER=amqp makes it a private RabbitMQ node, with
# the private redis-server as the result store (`make test BROKER=amqp` runs the tests marked
# amqp so), else the redis-server is both.
BROKERS = ("redis", "amqp")
BROKER = os.environ.get("SHOOTFLOW_TEST_BROKER", "").strip().lower() or "redis"
if BROKER not in BROKERS:
    raise pytest.UsageError(f"SHOOTFLOW_TEST_BROKER must be one of {', '.join(BROKERS)}, "
                            f"not {BROKER!r}")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "amqp: what must hold on RabbitMQ too; `make test BROKER=amqp` runs these "
                   "tests (pytest -m amqp) with SHOOTFLOW_TEST_BROKER=amqp")


def pytest_report_header():
    return f"database: {DATABASE}, broker: {BROKER}"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def rabbit_server(tmp_path_factory):
    server = RabbitServer(tmp_path_factory.mktemp("rabbitmq"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def broker_server(request):
    """The server the suite's broker runs on (start, stop, kill(wipe), url, workdir): the
    redis-server, or the RabbitMQ node with SHOOTFLOW_TEST_BROKER=amqp."""
    return request.getfixturevalue("rabbit_server" if BROKER == "amqp" else "redis_server")


@pytest.fixture(scope="session")
def postgres_server():
    server = PostgresServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def new_database(request, tmp_path_factory):
    """new_database(name): the URL of a new, empty database of the kind the suite runs on,
    as a user writes it in SHOOTFLOW_DATABASE_URL (database_url() makes it SQLAlchemy's)."""
    if DATABASE == "postgresql":
        return request.getfixturevalue("postgres_server").create_database
    return lambda name: f"sqlite:///{tmp_path_factory.mktemp(name) / f'{name}.db'}"


@pytest.fixture(scope="session")
def test_env(tmp_path_factory, redis_server, broker_server, new_database):
    """The environment shared by the app under test and its worker."""
    root = tmp_path_factory.mktemp("shootflow")
    env = {
        "SHOOTFLOW_INSTANCE_DIR": str(root / "instance"),  # keys made here, not in the repo
        "SHOOTFLOW_DATABASE_URL": (new_database("test") if DATABASE == "postgresql"
                                   else f"sqlite:///{root / 'test.db'}"),
        "SHOOTFLOW_MEDIA_DIR": str(root / "media"),
        "SHOOTFLOW_BROKER_URL": broker_server.url,
        "SHOOTFLOW_RESULT_BACKEND": redis_server.url,
        "SHOOTFLOW_PAGE_LOAD_TIMEOUT": "5",
        "SHOOTFLOW_MAX_BUNDLE_URLS": "5",
        # The watchdog only runs while test_watchdog starts beat; then it acts quickly.
        "SHOOTFLOW_STUCK_AFTER": "3",
        "SHOOTFLOW_WATCHDOG_INTERVAL": "1",
        "SHOOTFLOW_WATCH_TICK": "1",
        "SHOOTFLOW_WEBHOOK_BACKOFF": "1",
        "SHOOTFLOW_WATCH_KEEP": "3",
        # The test pages live on 127.0.0.1; every other address stays refused, and the
        # canary on 127.0.0.2 proves it.
        "SHOOTFLOW_ALLOWED_NETWORKS": "127.0.0.1/32",
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        yield {"root": root, **env}


@pytest.fixture(scope="session")
def app(test_env):
    from flask_migrate import upgrade

    from shootflow import create_app
    app = create_app({"TESTING": True})
    with app.app_context():
        upgrade()
    return app


@pytest.fixture(scope="session")
def celery_app(app):
    return app.extensions["celery"]


@pytest.fixture(scope="session")
def worker(app, celery_app, test_env):
    proc = CeleryWorker(dict(os.environ), test_env["root"] / "worker.log")
    try:
        proc.wait_ready(celery_app)
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def beat(test_env, tmp_path):
    """`celery beat` as the Procfile runs it: it drives the watchdog and the watches' tick
    (every second here). Its log is tmp_path / "beat.log"."""
    proc = CeleryBeat(dict(os.environ), tmp_path, "beat")
    yield proc
    proc.stop()


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def pages():
    server = PageServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def canary():
    """A server on 127.0.0.2 (outside the tests' allowlist) that must never be reached."""
    server = CanaryServer("127.0.0.2")
    yield server
    server.stop()
    assert not server.hits, f"the canary on 127.0.0.2 was reached: {server.hits}"


@pytest.fixture
def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens."""
    return f"http://127.0.0.1:{free_port()}/"


@pytest.fixture(scope="session")
def live_server(app):
    server = LiveServer(app)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def auth_app(app):
    """A second app on the same database and broker, with auth turned on."""
    from shootflow import create_app
    return create_app({"TESTING": True, "AUTH": True})
