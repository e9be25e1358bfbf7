"""Celery tasks: each loads rows by id, calls plain code, saves, and moves the state on."""
import logging
import re

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from flask import current_app

from .. import bundles
from ..capture import BrowserError, PageError
from ..extensions import db
from ..models import Bundle, Shot
from ..storage import MediaStore
from .browsers import browser_session

log = logging.getLogger(__name__)
_ID = re.compile(r"^[0-9a-f]{24}$")


class BadTaskArguments(ValueError):
    """A task was sent arguments it cannot act on; nothing is written."""


def _load(model, row_id):
    if not isinstance(row_id, str) or not _ID.match(row_id):
        raise BadTaskArguments(f"{model.__name__.lower()} id must be 24 hex characters, "
                               f"got {row_id!r}")
    row = db.session.get(model, row_id)
    if row is None:
        raise BadTaskArguments(f"no {model.__name__.lower()} with id {row_id}")
    return row


def _store():
    return MediaStore(current_app.config["MEDIA_DIR"])


@shared_task(name="shots.capture", acks_late=True)
def capture(shot_id):
    """Capture one shot's page; a page's failure is recorded on the shot, never raised."""
    shot = _load(Shot, shot_id)
    if shot.finished or shot.image_path:
        return shot_id  # redelivered after the work was done: nothing to repeat
    bundles.start_shot(shot)
    db.session.commit()
    try:
        result = browser_session().capture(shot.url)
    except PageError as exc:
        bundles.fail_shot(shot, str(exc))
    except BrowserError as exc:
        bundles.fail_shot(shot, str(exc))
    except SoftTimeLimitExceeded:
        browser_session().close()
        bundles.fail_shot(shot, "the capture took longer than its time limit")
    else:
        bundles.record_capture(shot, result, _store())
    db.session.commit()
    return shot_id


@shared_task(name="shots.process")
def process(shot_id):
    """Make the thumbnail of a captured shot and mark it done."""
    shot = _load(Shot, shot_id)
    if shot.state != "running" or not shot.image_path:
        return shot_id  # failed at capture, or already processed
    try:
        bundles.record_thumbnail(shot, _store())
    except OSError as exc:
        bundles.fail_shot(shot, f"the screenshot could not be processed ({exc})")
    db.session.commit()
    return shot_id


@shared_task(name="bundles.finalize")
def finalize_bundle(bundle_id):
    """Chord callback: set the bundle's final state from its shots."""
    bundle = _load(Bundle, bundle_id)
    if not bundle.finished:
        bundles.finalize(bundle)
        db.session.commit()
    return bundle.state


@shared_task(name="bundles.chord_failed")
def chord_failed(request, exc, traceback, bundle_id=None):
    """Errback of the chord body: a capture's machinery failed, so settle the bundle anyway."""
    log.error("bundle %s: chord failed (%s); finalizing from its rows", bundle_id, exc)
    bundle = _load(Bundle, bundle_id)
    if not bundle.finished:
        bundles.finalize(bundle)
        db.session.commit()
