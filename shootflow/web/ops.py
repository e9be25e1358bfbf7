"""The operators' page: queues and workers at a glance, with a link to Flower."""
from flask import Blueprint, current_app, render_template
from kombu.exceptions import OperationalError

from ..extensions import htmx
from ..monitoring import queue_status, worker_status
from .access import may_operate

bp = Blueprint("ops", __name__)


@bp.before_request
def operators_only():
    """Running tasks show every user's work, so with auth on only operators see them."""
    if may_operate():
        return None
    message = ("This page is for operators. An operator can grant it with "
               "`flask users operator NAME`.")
    if htmx:
        return message, 403
    return render_template("error.html", title="Operators only", message=message), 403


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
