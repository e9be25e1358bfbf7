"""What the broker and the workers are doing now, for the ops page; bounded by timeouts."""
import json
import time
from dataclasses import dataclass, field

from celery.signals import before_task_publish
from kombu.exceptions import ChannelError

QUEUES = ("capture", "capture.bulk", "capture.scheduled", "images", "default")
SENT_AT_HEADER = "shootflow_sent_at"


@before_task_publish.connect
def _stamp_sent_time(headers=None, **_):
    """Stamp each message so the ops page can tell how long the oldest one has waited."""
    if headers is not None:
        headers.setdefault(SENT_AT_HEADER, time.time())


@dataclass
class QueueStatus:
    name: str
    waiting: int | None
    oldest_age: float | None = None


@dataclass
class WorkerStatus:
    name: str
    pool: int | None
    done: int
    active: list = field(default_factory=list)


def _oldest_age(channel, queue, now):
    """Age in seconds of the message that has waited longest; Redis brokers only (RabbitMQ
    shows a queue's messages only by handing them out)."""
    client = getattr(channel, "client", None)
    if client is None:
        return None
    raw = client.lindex(queue, -1)  # kombu pushes on the left and pops on the right
    if raw is None:
        return None
    try:
        sent_at = json.loads(raw)["headers"][SENT_AT_HEADER]
    except (ValueError, KeyError, TypeError):
        return None
    return max(0.0, now - float(sent_at))


def waiting_messages(channel, queue):
    """How many messages wait in the queue for a worker (not those a worker holds unacknowledged),
    asked by a passive declare: the same question on Redis and on RabbitMQ. A queue the broker
    does not have (it restarted empty and no worker has declared it since) holds none, except
    on Redis, where a list may outlive its binding. (RabbitMQ closes the channel that asked
    about a missing queue; py-amqp opens it again at once, so the channel stays usable.)"""
    try:
        return channel.queue_declare(queue=queue, passive=True).message_count
    except ChannelError:
        size = getattr(channel, "_size", None)  # kombu's Redis channel: the list's length
        return size(queue) if size else 0


def queue_status(celery_app, queues=QUEUES):
    """Waiting messages per queue, straight from the broker."""
    now = time.time()
    statuses = []
    with celery_app.connection_for_read() as connection:
        connection.ensure_connection(max_retries=1, timeout=2)
        channel = connection.default_channel
        for name in queues:
            statuses.append(QueueStatus(name, waiting_messages(channel, name),
                                        _oldest_age(channel, name, now)))
    return statuses


def worker_status(celery_app, timeout=1.0):
    """Each worker that answers within timeout: pool size, tasks done, what it runs now."""
    inspect = celery_app.control.inspect(timeout=timeout)
    stats = inspect.stats() or {}
    active = inspect.active() or {}
    workers = []
    for name in sorted(set(stats) | set(active)):
        info = stats.get(name, {})
        workers.append(WorkerStatus(
            name=name,
            pool=info.get("pool", {}).get("max-concurrency"),
            done=sum(info.get("total", {}).values()),
            active=[{"id": task["id"], "name": task["name"],
                     "args": task.get("args"), "started": task.get("time_start")}
                    for task in active.get(name, [])],
        ))
    return workers
