"""Celery tasks: each loads rows by id, calls plain code, saves, and moves the state on."""
import dataclasses
import logging
import re
import uuid
from datetime import timedelta

from celery import chain, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from flask import current_app
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from .. import lifecycle, watches
from ..capture import BrowserError, PageError
from ..capture.errors import TRANSIENT
from ..capture.limits import ERROR_LIMIT, TITLE_LIMIT, URL_LIMIT, clip
from ..extensions import db
from ..images import ImageTooLarge
from ..lifecycle import Claim
from ..models import Bundle, Shot, ShotState, utcnow
from ..storage import MediaStore
from .browsers import browser_session
from .watch import watch_capture

log = logging.getLogger(__name__)
_ID = re.compile(r"^[0-9a-f]{24}$")
# What sending raises when the broker (or Redis as the result store) is down.
BROKER_ERRORS = (OperationalError, RedisError, ConnectionError)
RETRY_BACKOFF = 2  # seconds before the second attempt; doubled for each one after


class BadTaskArguments(ValueError):
    """A task was sent arguments it cannot act on (or its row is gone: a deleted bundle's
    messages still arrive); nothing is written. The task fails with the message, logged
    as an expected failure, without a traceback (the tasks' `throws`)."""


def load(model, row_id):
    if not isinstance(row_id, str) or not _ID.match(row_id):
        raise BadTaskArguments(f"{model.__name__.lower()} id must be 24 hex characters, "
                               f"got {row_id!r}")
    row = db.session.get(model, row_id)
    if row is None:
        raise BadTaskArguments(f"no {model.__name__.lower()} with id {row_id}")
    return row


def _store():
    return MediaStore(current_app.config["MEDIA_DIR"])


def for_row(text, limit):
    """Text from a page as a Shot row keeps it: at most limit characters, and U+FFFD for NUL
    (as HTML reads it), which PostgreSQL's text columns refuse and a script may write."""
    text = clip(text, limit)
    return text.replace("\x00", "\ufffd") if text else text


def fit_for_row(result):
    """The capture result with its title and final URL as a Shot row keeps them (the engine
    cuts them too; this holds whatever engine made the result)."""
    return dataclasses.replace(result, title=for_row(result.title, TITLE_LIMIT),
                               final_url=for_row(result.final_url, URL_LIMIT))


def _fail(shot, message, kind=None):
    """Fail the shot with message, as a Shot row keeps it (it may quote the page)."""
    lifecycle.fail_shot(shot, for_row(message, ERROR_LIMIT), kind)


def backoff_seconds(attempts):
    """How long to wait before another try after a failure that may pass: 2 s, 4 s, 8 s…"""
    return RETRY_BACKOFF * 2 ** (attempts - 1)


def _try_again(shot, error, kind):
    """Queue the shot for another attempt after a back-off, and send it then."""
    delay = backoff_seconds(shot.attempts)
    lifecycle.queue_again(shot, error, kind, utcnow() + timedelta(seconds=delay))
    _send_again(shot, delay)


def _send_again(shot, delay):
    """Send a queued shot's capture (after delay seconds) outside its bundle's chord; if the
    broker cannot take it now, the watchdog sends it (the row says it is unsent)."""
    from .canvas import capture_lane, describe
    task_id = str(uuid.uuid4())
    shot.task_id = task_id
    shot.dispatched_at = utcnow() + timedelta(seconds=delay)
    db.session.commit()
    try:
        chain(capture.si(shot.id).set(task_id=task_id, argsrepr=describe(shot),
                                      queue=capture_lane(shot), countdown=delay),
              process.s().set(argsrepr=describe(shot))).apply_async()
    except BROKER_ERRORS as exc:
        log.warning("shot %s: could not send the retry (%s); the watchdog will", shot.id, exc)
        shot.dispatched_at = None
        db.session.commit()


def _finish(shot):
    """Commit the shot's new state, then let the bundle end if that was its last open shot."""
    db.session.commit()
    if shot.finished:
        lifecycle.settle(shot.bundle_id)
        db.session.commit()


def heartbeat_seconds():
    """How often a capture says it is alive: several times within STUCK_AFTER."""
    return max(0.5, min(10, current_app.config["STUCK_AFTER"] / 4))


@shared_task(bind=True, name="shots.capture", acks_late=True, throws=(BadTaskArguments,))
def capture(self, shot_id):
    """Capture one shot's page; a page's failure is recorded on the shot, never raised."""
    shot = load(Shot, shot_id)
    claim = lifecycle.claim_shot(shot, self.request.id, current_app.config["CAPTURE_ATTEMPTS"])
    if claim is not Claim.TAKEN:
        if claim is Claim.EXHAUSTED:
            log.warning("shot %s failed: %s", shot.id, shot.error)
            _finish(shot)
        return shot_id  # finished, cancelled, or taken by another message of the shot
    session = browser_session()
    result = error = kind = None
    with watch_capture(shot_id, self.request.id, on_cancel=session.kill,
                       heartbeat=heartbeat_seconds()):
        try:
            result = session.capture(shot.url, shot.bundle.owner_key,
                                     lifecycle.options_for(shot, current_app.config))
        except (PageError, BrowserError) as exc:
            error, kind = str(exc), exc.kind
        except SoftTimeLimitExceeded:
            session.close()
            error, kind = "the capture took longer than its time limit", "timeout"
    db.session.refresh(shot)
    if not lifecycle.holds(shot, self.request.id):
        log.info("shot %s of bundle %s stopped: %s", shot.id, shot.bundle_id,
                 "cancelled" if shot.state == ShotState.CANCELLED else "taken over")
        return shot_id
    if error and kind in TRANSIENT and shot.attempts < current_app.config["CAPTURE_ATTEMPTS"]:
        _try_again(shot, for_row(error, ERROR_LIMIT), kind)
        return shot_id
    if error:
        _fail(shot, error, kind)
    else:
        try:
            lifecycle.record_capture(shot, fit_for_row(result), _store())
        except ImageTooLarge as exc:
            _fail(shot, f"the screenshot is too large to keep ({exc})")
    _finish(shot)
    return shot_id


@shared_task(name="shots.process", throws=(BadTaskArguments,))
def process(shot_id):
    """Make the thumbnail of a captured shot and mark it done; a picture of one colour is
    captured once more, with a longer wait, before it is kept (flagged)."""
    shot = load(Shot, shot_id)
    if shot.state != ShotState.RUNNING or not shot.image_path:
        return shot_id  # failed at capture, or already processed
    store = _store()
    try:
        if lifecycle.process_capture(shot, store, current_app.config["CAPTURE_ATTEMPTS"]):
            _send_again(shot, delay=0)
            return shot_id
        if shot.bundle.watch_id is not None:
            watches.score_shot(shot, store)  # done and scored together, unless it waits
    except (OSError, ImageTooLarge) as exc:
        _fail(shot, f"the screenshot could not be processed ({exc})")
    watch_id = shot.bundle.watch_id
    _finish(shot)
    if watch_id is not None and shot.state == ShotState.DONE:
        score_watch(watch_id)
    return shot_id


@shared_task(name="watches.score", throws=(BadTaskArguments,))
def score_watch(watch_id):
    """Compare a watch's done runs that are not yet (those that waited for an earlier run,
    now ended), then keep only its last WATCH_KEEP runs. Run by the images lane after each
    run's thumbnail, and sent by the tick for runs left waiting."""
    if not isinstance(watch_id, str) or not _ID.match(watch_id):
        raise BadTaskArguments(f"watch id must be 24 hex characters, got {watch_id!r}")
    store = _store()
    scored = watches.score_ready(watch_id, store)
    watches.prune(watch_id, current_app.config["WATCH_KEEP"], store)
    return len(scored)


@shared_task(name="bundles.finalize", throws=(BadTaskArguments,))
def finalize_bundle(bundle_id):
    """Chord callback: the bundle's captures have all run, so it may be over."""
    bundle = load(Bundle, bundle_id)
    lifecycle.settle(bundle.id)
    db.session.commit()
    db.session.refresh(bundle)
    return bundle.state


@shared_task(name="bundles.chord_failed")
def chord_failed(request, exc, traceback, bundle_id=None):
    """Errback of the chord body: transport trouble (the shots themselves never raise). The
    rows decide: the bundle ends if its shots have; the watchdog sees to any still open."""
    log.error("bundle %s: chord failed (%s); its rows decide what is left", bundle_id, exc)
    bundle = load(Bundle, bundle_id)
    lifecycle.settle(bundle.id)
    db.session.commit()
