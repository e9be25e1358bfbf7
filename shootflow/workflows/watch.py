"""Beside a running capture: its heartbeat and a watch for cancels; and Flower's revokes."""
import logging
import threading
import time
from contextlib import contextmanager

from celery.signals import task_revoked
from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from .. import lifecycle
from ..extensions import db
from ..models import Shot, ShotState

log = logging.getLogger(__name__)
POLL_SECONDS = 0.5


def _cancelled(shot_id):
    state = db.session.execute(db.select(Shot.state).where(Shot.id == shot_id)).scalar()
    db.session.remove()
    return state == ShotState.CANCELLED


@contextmanager
def watch_capture(shot_id, task_id, on_cancel, heartbeat):
    """While the block runs, write the shot's heartbeat every `heartbeat` seconds, and poll
    its row: call on_cancel() if it gets cancelled.

    A capture blocks inside the browser for up to the page-load timeout, so the only way
    to stop it within a second is from beside it: on_cancel kills the browser. It is called
    again on every tick until the block ends, because a browser that was still starting
    when the cancel came has nothing to kill yet. The heartbeat tells the watchdog this
    process is alive; its silence means the worker was lost and the shot is sent again."""
    app = current_app._get_current_object()
    done = threading.Event()

    def watch():
        cancelled = False
        last_beat = time.monotonic()
        with app.app_context():
            while not done.wait(POLL_SECONDS):
                if not cancelled and _cancelled(shot_id):
                    log.info("shot %s cancelled while capturing; stopping its browser", shot_id)
                    cancelled = True
                if cancelled:
                    on_cancel()
                elif time.monotonic() - last_beat >= heartbeat:
                    last_beat = time.monotonic()
                    _beat(shot_id, task_id)

    thread = threading.Thread(target=watch, name=f"capture-watch-{shot_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _beat(shot_id, task_id):
    try:
        lifecycle.heartbeat(shot_id, task_id)
    except SQLAlchemyError as exc:  # a busy database: the next beat may get through
        log.warning("shot %s: heartbeat not written (%s)", shot_id, exc)
        db.session.rollback()
    finally:
        db.session.remove()


@task_revoked.connect
def _mark_revoked_shot_cancelled(sender=None, request=None, terminated=None, **_):
    """A capture revoked outside the app (Flower, `celery control revoke`) reads as cancelled."""
    if getattr(sender, "name", None) != "shots.capture" or not request or not request.args:
        return
    with sender.app.flask_app.app_context():
        shot = db.session.get(Shot, request.args[0])
        if shot is None:
            return
        lifecycle.cancel_shot(shot)
        db.session.commit()
        lifecycle.settle(shot.bundle_id)
        db.session.commit()
        log.info("shot %s revoked (terminated=%s): cancelled", shot.id, terminated)
