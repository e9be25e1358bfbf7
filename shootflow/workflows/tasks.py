"""Celery tasks: each loads rows by id, calls plain code, saves, and moves the state on."""
import dataclasses
import logging
import re
from datetime import timedelta

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from flask import current_app

from .. import bundles
from ..capture import BrowserError, PageError
from ..capture.limits import ERROR_LIMIT, TITLE_LIMIT, URL_LIMIT, clip
from ..extensions import db
from ..images import ImageTooLarge
from ..models import Bundle, Shot, utcnow
from ..storage import MediaStore
from .browsers import browser_session
from .cancellation import watch_for_cancel

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


def fit_for_row(result):
    """The capture result with its title and final URL no longer than a Shot row keeps them
    (the engine cuts them too; this holds whatever engine made the result)."""
    return dataclasses.replace(result, title=clip(result.title, TITLE_LIMIT),
                               final_url=clip(result.final_url, URL_LIMIT))


def _fail(shot, message):
    """Fail the shot with message, no longer than a Shot row keeps it (it may quote the page)."""
    bundles.fail_shot(shot, clip(message, ERROR_LIMIT))


def isolation_key(bundle):
    """Whose captures may share a browser context: one user's (auth on), or one client's."""
    return f"user:{bundle.owner_id}" if bundle.owner_id is not None else f"client:{bundle.client}"


@shared_task(name="shots.capture", acks_late=True)
def capture(shot_id):
    """Capture one shot's page; a page's failure is recorded on the shot, never raised."""
    shot = _load(Shot, shot_id)
    if shot.finished or shot.image_path:
        return shot_id  # redelivered after the work was done, or cancelled: nothing to do
    if not bundles.claim_shot(shot):
        return shot_id
    session = browser_session()
    result = error = None
    with watch_for_cancel(shot_id, on_cancel=session.kill):
        try:
            result = session.capture(shot.url, isolation_key(shot.bundle))
        except (PageError, BrowserError) as exc:
            error = str(exc)
        except SoftTimeLimitExceeded:
            session.close()
            error = "the capture took longer than its time limit"
    db.session.refresh(shot)
    if shot.state == "cancelled":
        log.info("shot %s of bundle %s stopped: cancelled", shot.id, shot.bundle_id)
    elif error:
        _fail(shot, error)
    else:
        try:
            bundles.record_capture(shot, fit_for_row(result), _store())
        except ImageTooLarge as exc:
            _fail(shot, f"the screenshot is too large to keep ({exc})")
    db.session.commit()
    bundles.settle_after(shot)
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
    except (OSError, ImageTooLarge) as exc:
        _fail(shot, f"the screenshot could not be processed ({exc})")
    db.session.commit()
    bundles.settle_after(shot)
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


@shared_task(name="bundles.watchdog")
def watchdog():
    """Beat-driven: settle bundles whose chord was lost and shots whose worker vanished."""
    stuck_after = timedelta(seconds=current_app.config["STUCK_AFTER"])
    unprocessed, settled = bundles.rescue_stuck(utcnow(), stuck_after)
    db.session.commit()
    for shot_id in unprocessed:  # captured, but the thumbnail step was lost: run it again
        process.delay(shot_id)
    for bundle in settled:
        log.warning("watchdog settled bundle %s as %s", bundle.id, bundle.state)
    return [bundle.id for bundle in settled]
