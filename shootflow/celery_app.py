"""Bind Celery to a Flask app once: settings from celeryconfig, broker from the app's config."""
from celery import Celery, Task


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
    celery_app.conf.beat_schedule = {
        "watchdog": {"task": "bundles.watchdog",
                     "schedule": float(app.config["WATCHDOG_INTERVAL"])},
    }
    celery_app.conf.update(app.config.get("CELERY", {}))
    celery_app.set_default()
    celery_app.flask_app = app
    app.extensions["celery"] = celery_app
    return celery_app
