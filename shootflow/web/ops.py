"""The operators' page: queues and workers at a glance, with a link to Flower."""
from flask import Blueprint, current_app, render_template
from kombu.exceptions import OperationalError

from ..extensions import htmx
from ..monitoring import queue_status, worker_status

bp = Blueprint("ops", __name__)


@bp.get("/ops")
def ops():
    celery_app = current_app.extensions["celery"]
    try:
        queues, workers, broker_error = queue_status(celery_app), worker_status(celery_app), None
    except (OperationalError, OSError) as exc:
        queues, workers, broker_error = [], [], str(exc)
    template = "_ops.html" if htmx else "ops.html"
    return render_template(template, queues=queues, workers=workers, broker_error=broker_error,
                           flower_url=current_app.config.get("FLOWER_URL"))
