"""Do-nothing Celery tasks on the product's settings (celeryconfig) and broker: what the
queue itself costs. Started by bench.run as

    celery -A bench.noop:app worker -Q bench.noop --concurrency 2 --loglevel INFO
"""
import os

from celery import Celery
from kombu import Exchange, Queue

QUEUE = "bench.noop"

app = Celery("bench_noop")
app.config_from_object("celeryconfig")
_broker = os.environ.get("SHOOTFLOW_BROKER_URL", "redis://127.0.0.1:6379/0")
app.conf.update(
    broker_url=_broker,
    result_backend=os.environ.get("SHOOTFLOW_RESULT_BACKEND", _broker),
    task_queues=(Queue(QUEUE, Exchange(QUEUE, type="direct"), routing_key=QUEUE),),
    task_default_queue=QUEUE,
    task_default_exchange=QUEUE,
    task_default_routing_key=QUEUE,
    task_routes={},
)


@app.task(name="bench.noop")
def noop(*_args):
    return None
