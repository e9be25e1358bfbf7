"""Celery settings: queues, routes, reliability and limits. The Flask config adds the broker URLs."""
from kombu import Exchange, Queue

# Only JSON crosses the broker: a pickled message could run code in a worker.
accept_content = ["json"]
result_accept_content = ["json"]
task_serializer = "json"
result_serializer = "json"

# The same objects declare the queues on Redis (emulated by kombu) and on RabbitMQ, where every
# process must declare them alike (a queue or exchange declared again with other settings is
# refused): durable exchanges and queues, which with Celery's persistent messages outlive a
# broker restart. No x-max-priority: people and schedules already have lanes of their own, and
# a priority argument could never be added to a queue that exists without deleting it.
_capture = Exchange("capture", type="direct", durable=True)
task_queues = (
    # Two lanes for captures (see shootflow.workflows.canvas.capture_lane); a capture worker
    # consumes both, and kombu takes from its queues in turn (on RabbitMQ the broker hands
    # a freed process a message from any of them, so the turns are looser there).
    Queue("capture", _capture, routing_key="capture", durable=True),
    Queue("capture.bulk", _capture, routing_key="capture.bulk", durable=True),
    # Watches' runs: the capture worker takes them in turn with the others; the interactive
    # worker never does, so a large schedule never makes a person wait.
    Queue("capture.scheduled", _capture, routing_key="capture.scheduled", durable=True),
    Queue("images", Exchange("images", type="direct", durable=True), routing_key="images",
          durable=True),
    Queue("default", Exchange("default", type="direct", durable=True), routing_key="default",
          durable=True),
)
task_default_queue = "default"
task_default_exchange = "default"
task_default_routing_key = "default"
# Queues only, no routing keys: Celery then sends each message to its queue by name (through
# the broker's default exchange), so a capture that canvas.capture_lane sends to another lane
# cannot carry the interactive lane's key with it.
task_routes = {
    "shots.capture": {"queue": "capture"},
    "shots.process": {"queue": "images"},
    "watches.score": {"queue": "images"},
    "bundles.*": {"queue": "default"},
    "watches.*": {"queue": "default"},
    "webhooks.*": {"queue": "default"},
}

# A capture is acknowledged only once it has finished, so a lost worker's capture is redelivered;
# each capture process takes one message at a time so nothing waits behind a slow page.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1

# On Redis, redelivery of unacknowledged messages happens after the visibility timeout; every
# time limit must stay well below it or a long task would be handed to a second worker while
# still running. For RabbitMQ, shootflow.celery_app puts publisher confirms here instead: there a
# message comes back when its worker's connection closes, or after the server's consumer_timeout
# (30 minutes by default), which must likewise stay above the time limits.
broker_transport_options = {"visibility_timeout": 3600}
# A result-store outage fails fast (about 3 s) instead of holding a web request for 20 s;
# work it interrupts is finished by the watchdog once the broker is back.
result_backend_transport_options = {
    "visibility_timeout": 3600,
    "retry_policy": {"max_retries": 3, "interval_start": 0, "interval_step": 0.5,
                     "interval_max": 1},
}
task_soft_time_limit = 120
task_time_limit = 180

broker_connection_retry_on_startup = True
result_expires = 24 * 3600
result_extended = True

# Events feed Flower and the operators' views.
worker_send_task_events = True
task_send_sent_event = True

worker_hijack_root_logger = False

# No soft shutdown: with late acks, a cold shutdown's interrupted captures come back anyway.
worker_soft_shutdown_timeout = 0.0
