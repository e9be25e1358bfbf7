"""Stopping work that a person cancelled: a watch on the running capture, and Flower's revokes."""
import logging
import threading
from contextlib import contextmanager

from celery.signals import task_revoked
from flask import current_app

from .. import bundles
from ..extensions import db
from ..models import Shot

log = logging.getLogger(__name__)
POLL_SECONDS = 0.5


def _cancelled(shot_id):
    state = db.session.execute(db.select(Shot.state).where(Shot.id == shot_id)).scalar()
    db.session.remove()
    return state == "cancelled"


@contextmanager
def watch_for_cancel(shot_id, on_cancel):
    """While the block runs, poll the shot's row; call on_cancel() once if it gets cancelled.

    A capture blocks inside the browser for up to the page-load timeout, so the only way
    to stop it within a second is from beside it: on_cancel kills the browser. It is called
    again on every tick until the block ends, because a browser that was still starting
    when the cancel came has nothing to kill yet."""
    app = current_app._get_current_object()
    done = threading.Event()

    def watch():
        cancelled = False
        with app.app_context():
            while not done.wait(POLL_SECONDS):
                if not cancelled and _cancelled(shot_id):
                    log.info("shot %s cancelled while capturing; stopping its browser", shot_id)
                    cancelled = True
                if cancelled:
                    on_cancel()

    thread = threading.Thread(target=watch, name=f"cancel-watch-{shot_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


@task_revoked.connect
def _mark_revoked_shot_cancelled(sender=None, request=None, terminated=None, **_):
    """A capture revoked outside the app (Flower, `celery control revoke`) reads as cancelled."""
    if getattr(sender, "name", None) != "shots.capture" or not request or not request.args:
        return
    with sender.app.flask_app.app_context():
        shot = db.session.get(Shot, request.args[0])
        if shot is None:
            return
        bundles.cancel_shot(shot)
        db.session.commit()
        bundles.settle_after(shot)
        db.session.commit()
        log.info("shot %s revoked (terminated=%s): cancelled", shot.id, terminated)
