"""A worker-side guard on incoming task messages: malformed ones are dropped, not run.

Celery itself refuses non-JSON content, but a JSON message of the wrong shape (a dict, or a
list that is not [args, kwargs, embed]) makes the worker's consumer raise while building the
request, which stops the whole worker. shootflow only sends task protocol 2."""
import logging

from celery.worker.strategy import default

log = logging.getLogger(__name__)


def well_formed(message, payload):
    """True for a protocol-2 message: a task header and a body of [args, kwargs, embed]."""
    headers = message.headers or {}
    return ("task" in headers and "id" in headers
            and isinstance(payload, (list, tuple)) and len(payload) == 3
            and isinstance(payload[0], (list, tuple)) and isinstance(payload[1], dict)
            and (payload[2] is None or isinstance(payload[2], dict)))


def guarded(task, app, consumer, **kwargs):
    """Celery's default strategy for task, behind a check of each message's shape."""
    handle = default(task, app, consumer, **kwargs)

    def task_message_handler(message, body, ack, reject, callbacks, **options):
        payload = message.payload if body is None else body
        if not well_formed(message, payload):
            log.error("dropped a malformed %s message (id %s): expected task protocol 2",
                      task.name, (message.headers or {}).get("id"))
            message.reject_log_error(log, consumer.connection_errors, requeue=False)
            return None
        return handle(message, body, ack, reject, callbacks, **options)

    return task_message_handler
