"""Bind Celery to a Flask app once: settings from celeryconfig, broker from the app's config."""
import logging

from celery import Celery, Task

from .config import broker_kind

log = logging.getLogger(__name__)


def celery_init_app(app):
    """Create the Celery app for this Flask app; every task runs inside an app context."""

    class FlaskTask(Task):
        Strategy = "shootflow.workflows.strategy:guarded"

        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object("celeryconfig")
    celery_app.conf.update(
        broker_url=app.config["BROKER_URL"],
        result_backend=app.config["RESULT_BACKEND"],
    )
    if broker_kind(app.config["BROKER_URL"]) == "amqp":
        _apply_publisher_confirms(celery_app)
    else:
        _apply_visibility_timeout(celery_app, app.config["VISIBILITY_TIMEOUT"])
    celery_app.conf.beat_schedule = {
        "watchdog": {"task": "bundles.watchdog",
                     "schedule": float(app.config["WATCHDOG_INTERVAL"])},
        # Due watches are read from their rows at each tick: edits need no restart.
        "watches": {"task": "watches.tick", "schedule": float(app.config["WATCH_TICK"])},
    }
    celery_app.conf.update(app.config.get("CELERY", {}))
    celery_app.set_default()
    celery_app.flask_app = app
    app.extensions["celery"] = celery_app
    return celery_app


def _apply_visibility_timeout(celery_app, seconds):
    """How long a delivered but unacknowledged message waits before Redis hands it out again
    (a worker killed outright leaves its captures so), and how often workers sweep for them."""
    conf = celery_app.conf
    if seconds <= conf.task_time_limit:
        log.warning("SHOOTFLOW_VISIBILITY_TIMEOUT=%s is not above the %s s task time limit: "
                    "a long capture may be handed to a second worker", seconds,
                    conf.task_time_limit)
    sweep = {"visibility_timeout": seconds,
             # sweep about ten times per timeout, so a message returns soon after it
             "unacked_restore_interval": max(1, min(10, seconds // 10)),
             "unacked_restore_throttle": 1}
    conf.broker_transport_options = {**conf.broker_transport_options, **sweep}
    conf.result_backend_transport_options = {**conf.result_backend_transport_options,
                                             "visibility_timeout": seconds}


def _apply_publisher_confirms(celery_app):
    """On RabbitMQ: every publish waits until the broker has taken the message (and written it,
    for these durable queues), so a submit answered 202 has its message safe. The visibility
    timeout is Redis's and means nothing here: RabbitMQ hands an unacknowledged message out
    again as soon as its worker's connection closes."""
    celery_app.conf.broker_transport_options = {"confirm_publish": True}
