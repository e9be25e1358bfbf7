"""Celery settings: queues, routes, reliability and limits. The Flask config adds the broker URLs."""
from kombu import Exchange, Queue

# Only JSON crosses the broker: a pickled message could run code in a worker.
accept_content = ["json"]
result_accept_content = ["json"]
task_serializer = "json"
result_serializer = "json"

task_queues = (
    # Two lanes for captures (see shootflow.workflows.canvas.capture_lane); a capture worker
    # consumes both, and kombu takes from its queues in turn.
    Queue("capture", Exchange("capture", type="direct"), routing_key="capture"),
    Queue("capture.bulk", Exchange("capture", type="direct"), routing_key="capture.bulk"),
    # Watches' runs: the capture worker takes them in turn with the others; the interactive
    # worker never does, so a large schedule never makes a person wait.
    Queue("capture.scheduled", Exchange("capture", type="direct"),
          routing_key="capture.scheduled"),
    Queue("images", Exchange("images", type="direct"), routing_key="images"),
    Queue("default", Exchange("default", type="direct"), routing_key="default"),
)
task_default_queue = "default"
task_default_exchange = "default"
task_default_routing_key = "default"
task_routes = {
    "shots.capture": {"queue": "capture", "routing_key": "capture"},
    "shots.process": {"queue": "images", "routing_key": "images"},
    "watches.score": {"queue": "images", "routing_key": "images"},
    "bundles.*": {"queue": "default", "routing_key": "default"},
    "watches.*": {"queue": "default", "routing_key": "default"},
    "webhooks.*": {"queue": "default", "routing_key": "default"},
}

# A capture is acknowledged only once it has finished, so a lost worker's capture is redelivered;
# each capture process takes one message at a time so nothing waits behind a slow page.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1

# Redelivery of unacknowledged messages happens after the visibility timeout; every time limit
# must stay well below it or a long task would be handed to a second worker while still running.
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
