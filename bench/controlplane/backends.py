"""The broker and the database of a control-plane run: private servers the bench starts
(shootflow.testing.servers), or ones of the caller's given by URL; and what the bench reads
from them (queue lengths, commands, memory, commits)."""
import threading

from bench.controlplane import QUEUES
from shootflow.monitoring import waiting_messages
from shootflow.testing import servers


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
        self._connection = self._connection or Connection(self.url)
        channel = self._connection.default_channel
        return {queue: waiting_messages(channel, queue) for queue in QUEUES}, None

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

