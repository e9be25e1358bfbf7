"""The one browser each worker process keeps, started on first use and quit at shutdown."""
from celery.signals import worker_process_shutdown, worker_shutdown
from flask import current_app

from ..capture import BrowserOptions, BrowserSession

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
            ),
            max_captures=config["BROWSER_MAX_CAPTURES"],
        )
    return _session


@worker_process_shutdown.connect
@worker_shutdown.connect
def _quit_browser(**_):
    if _session is not None:
        _session.close()
