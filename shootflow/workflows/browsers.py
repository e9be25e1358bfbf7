"""The one browser each worker process keeps, started on first use and quit at shutdown;
and each pool process's own database connections."""
from celery import current_app as current_celery_app
from celery.signals import (worker_init, worker_process_init, worker_process_shutdown,
                            worker_shutdown)
from flask import current_app

from ..capture import BrowserOptions, BrowserSession
from ..capture.processes import reap_orphans
from ..extensions import db

_session = None


def browser_session():
    """This process's BrowserSession, built from the app's config on first call."""
    global _session
    if _session is None:
        config = current_app.config
        _session = BrowserSession(
            BrowserOptions(
                chromium_path=config["CHROMIUM_PATH"],
                chromedriver_path=config["CHROMEDRIVER_PATH"],
                viewport=config["VIEWPORT"],
                page_load_timeout=config["PAGE_LOAD_TIMEOUT"],
                allowed_networks=config["ALLOWED_NETWORKS"],
                context_captures=config["CONTEXT_CAPTURES"],
            ),
            max_captures=config["BROWSER_MAX_CAPTURES"],
        )
    return _session


@worker_process_shutdown.connect
@worker_shutdown.connect
def _quit_browser(**_):
    if _session is not None:
        _session.shutdown()


@worker_init.connect
@worker_process_init.connect
def _reap_orphaned_browsers(**_):
    """A pool process that replaces one killed mid-capture cleans up the browser it left."""
    reap_orphans()


@worker_process_init.connect
def _own_database_connections(**_):
    """A pool process forked from a worker that had used the database (a revoke is handled
    there) must not use the connections it inherited: two processes talking over one
    PostgreSQL socket garble each other's queries. It opens its own; the parent keeps its."""
    with current_celery_app.flask_app.app_context():
        db.engine.dispose(close=False)
