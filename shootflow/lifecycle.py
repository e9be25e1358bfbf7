"""Moving shots and bundles through their states, and the one place that decides a bundle is
over; no Flask views, no Celery. Each change is a guarded UPDATE, so two processes acting on
the same row (a redelivered message, the watchdog, a cancel) leave one outcome.

Rows are locked in one order, so that two transactions never wait for each other (on
PostgreSQL, a deadlock that fails one of them): a transaction that changes several shots
changes them in the order of their ids, and changes their bundle after them."""
import enum
import hashlib
import logging
import time
from dataclasses import replace

from sqlalchemy import exists, func, select, update

from . import webhooks
from .capture.options import CaptureOptions, Viewport
from .extensions import db
from .images import decode, image_size, is_blank, make_thumbnail
from .models import (OPEN_BUNDLE_STATES, OPEN_SHOT_STATES, Bundle, BundleState, Shot,
                     ShotState, Watch, utcnow)
from .storage import EXTENSIONS

log = logging.getLogger(__name__)


def create_bundle(urls, owner_id=None, client=None, options=None, overrides=None):
    """Add a bundle with one queued shot per URL (not committed, not yet sent anywhere).
    options: the bundle's capture options; overrides[i]: the i-th URL's own, if any."""
    bundle = Bundle(owner_id=owner_id, client=client, options=options or None)
    overrides = overrides or [None] * len(urls)
    bundle.shots = [Shot(url=url, position=i, options=own or None)
                    for i, (url, own) in enumerate(zip(urls, overrides, strict=True))]
    db.session.add(bundle)
    return bundle


def waiting_shots(owner_id=None, client=None):
    """How many shots of this owner's (or, without one, this client's) bundles are unfinished."""
    mine = Bundle.owner_id == owner_id if owner_id is not None else Bundle.client == client
    return db.session.scalar(select(func.count(Shot.id)).join(Bundle).where(
        mine, Shot.state.in_(OPEN_SHOT_STATES)))


class Claim(enum.Enum):
    TAKEN = "taken"              # this message now holds the shot: capture it
    NOT_MINE = "not mine"        # finished, cancelled, or held by another message
    EXHAUSTED = "exhausted"      # its workers were lost too often: failed now


def _claimable(task_id):
    """A queued shot may be taken by any of its messages (duplicates from a re-dispatch
    are harmless: the first one takes it). A running shot only by a redelivery of the
    message that holds it: the broker redelivers only once that message's worker is gone."""
    return (Shot.state == ShotState.QUEUED) | (
        (Shot.state == ShotState.RUNNING) & Shot.image_path.is_(None)
        & (Shot.task_id == task_id))


def claim_shot(shot, task_id, max_attempts):
    """Let the message task_id take the shot for one more attempt; commits. A message that
    takes a shot was sent: if it arrived before its sender noted so (a fast broker), the
    claim notes when."""
    now = utcnow()
    taken = db.session.execute(
        update(Shot).where(Shot.id == shot.id, Shot.attempts < max_attempts,
                           _claimable(task_id))
        .values(state=ShotState.RUNNING, task_id=task_id, started_at=now, heartbeat_at=now,
                attempts=Shot.attempts + 1,
                dispatched_at=func.coalesce(Shot.dispatched_at, now))).rowcount
    if taken:
        db.session.execute(update(Bundle).where(Bundle.id == shot.bundle_id,
                                                Bundle.state == BundleState.QUEUED)
                           .values(state=BundleState.RUNNING))
    else:
        taken = -db.session.execute(
            update(Shot).where(Shot.id == shot.id, Shot.attempts >= max_attempts,
                               _claimable(task_id))
            .values(state=ShotState.FAILED, finished_at=now, error_kind="browser",
                    error=lost_too_often(max_attempts))).rowcount
    db.session.commit()
    db.session.refresh(shot)
    return Claim.TAKEN if taken > 0 else Claim.EXHAUSTED if taken < 0 else Claim.NOT_MINE


def lost_too_often(attempts):
    return (f"the capture was started {attempts} times and its worker stopped each time "
            "(the page may be crashing the browser)")


def heartbeat(shot_id, task_id):
    """Say the process holding the shot is alive; False once it no longer holds it."""
    alive = db.session.execute(
        update(Shot).where(Shot.id == shot_id, Shot.task_id == task_id,
                           Shot.state == ShotState.RUNNING)
        # the card has not changed: keep updated_at, which the bundle page polls on
        .values(heartbeat_at=utcnow(), updated_at=Shot.updated_at)).rowcount
    db.session.commit()
    return bool(alive)


def holds(shot, task_id):
    """Whether the message task_id still holds the (refreshed) shot: not cancelled, and not
    given to another message by the watchdog meanwhile."""
    return shot.state == ShotState.RUNNING and shot.task_id == task_id


def queue_again(shot, error, kind, at):
    """Put a shot whose capture failed for a reason that may pass back in the queue, to be
    sent at `at`; the failure is kept in its facts (not committed)."""
    tries = (shot.facts or {}).get("failed_attempts", [])
    shot.facts = {**(shot.facts or {}),
                  "failed_attempts": [*tries, {"error": error, "kind": kind}]}
    shot.state = ShotState.QUEUED
    shot.started_at = shot.heartbeat_at = None
    shot.dispatched_at = at
    log.info("shot %s of bundle %s: %s (%s); trying again", shot.id, shot.bundle_id, error,
             kind)


BLANK_RETRY_DELAY = 3  # seconds more to wait, when a first capture came out blank


def process_capture(shot, store, max_attempts):
    """The images lane's step for a captured shot, its picture read and decoded once: a
    picture of one colour may be captured again (True: send it; see blank_capture), any
    other gets its thumbnail and the shot is done. Not committed."""
    started = time.monotonic()
    with decode(store.read(shot.image_path), shot.format or "png") as picture:
        if blank_capture(shot, picture, max_attempts):
            return True
        record_thumbnail(shot, picture, store, started)
    return False


def blank_capture(shot, picture, max_attempts):
    """Check a captured shot's picture for one colour. The first time, the shot is queued
    again (True: send it) to be captured with a longer wait; the second time the picture is
    kept and flagged. Not committed."""
    facts = shot.facts or {}
    if not is_blank(picture, shot.format or "png"):
        return False
    if facts.get("blank_retry") or shot.attempts >= max_attempts:
        shot.facts = {**facts, "blank": True}
        return False
    shot.facts = {**facts, "blank_retry": True}
    shot.state = ShotState.QUEUED
    shot.started_at = shot.heartbeat_at = shot.dispatched_at = None
    log.info("shot %s of bundle %s came out blank; capturing it again with a longer wait",
             shot.id, shot.bundle_id)
    return True


def options_for(shot, config):
    """The options a shot is captured with: the defaults (config's viewport and page-load
    timeout), then its bundle's options, then its own."""
    options = CaptureOptions.merged(shot.bundle.options, shot.options,
                                    default_viewport=Viewport(*config["VIEWPORT"]))
    if not options.timeout:
        options = replace(options, timeout=config["PAGE_LOAD_TIMEOUT"])
    if (shot.facts or {}).get("blank_retry"):  # see blank_capture
        options = replace(options, delay=options.delay + BLANK_RETRY_DELAY)
    if shot.bundle.watch_id is not None:  # a watch's run: where its ignored elements are
        watch = db.session.get(Watch, shot.bundle.watch_id)
        selectors = tuple(item for item in (watch.ignore or []) if isinstance(item, str))
        if selectors:
            options = replace(options, measure=selectors)
    return options


def fail_shot(shot, message, kind=None):
    shot.state = ShotState.FAILED
    shot.error = message
    shot.error_kind = kind
    shot.finished_at = utcnow()
    log.info("shot %s of bundle %s failed: %s", shot.id, shot.bundle_id, message)


def record_capture(shot, result, store):
    """Keep the original image and the page's facts; the thumbnail comes later."""
    path = store.shot_path(shot.id, f"full.{EXTENSIONS[result.format]}")
    shot.image_bytes = store.write(path, result.image)
    shot.sha256 = hashlib.sha256(result.image).hexdigest()
    shot.format = result.format
    shot.truncated = result.truncated
    if result.width is not None:
        shot.width, shot.height = result.width, result.height
    else:
        shot.width, shot.height = image_size(result.image)
    shot.facts = {**(shot.facts or {}),  # what earlier attempts noted stays
                  "boxes": [list(box) for box in result.boxes],
                  "redirects": list(result.redirects),
                  "response_headers": dict(result.response_headers),
                  "console_errors": list(result.console_errors),
                  "timings": dict(result.timings or {})}
    shot.image_path = path
    shot.title = result.title
    shot.final_url = result.final_url
    shot.http_status = result.http_status
    shot.capture_ms = result.elapsed_ms
    shot.captured_at = utcnow()


def record_thumbnail(shot, picture, store, started):
    """Make the thumbnail from the original's picture and mark the shot done; the
    processing took from `started` (time.monotonic()) until now."""
    path = store.shot_path(shot.id, "thumb.jpg")
    store.write(path, make_thumbnail(picture, shot.format or "png"))
    timings = {**(shot.facts or {}).get("timings", {}),
               "processing": round((time.monotonic() - started) * 1000)}
    shot.facts = {**(shot.facts or {}), "timings": timings}
    shot.thumbnail_path = path
    shot.state = ShotState.DONE
    shot.finished_at = utcnow()


def settle(bundle_id):
    """The one place that decides a bundle is over: once none of its shots is open, it takes
    its final state. Call it after committing any shot's final state, so that of two
    processes finishing the last two shots at least one sees both; the guarded UPDATE lets
    only one of them end the bundle. True when this call ended it (not committed)."""
    if db.session.scalar(select(exists().where(Shot.bundle_id == bundle_id,
                                               Shot.state.in_(OPEN_SHOT_STATES)))):
        return False
    bundle = db.session.get(Bundle, bundle_id)
    progress = bundle.progress()
    state = progress.final_state(cancelled=bundle.cancelled_at is not None)
    ended = db.session.execute(
        update(Bundle).where(Bundle.id == bundle_id, Bundle.state.in_(OPEN_BUNDLE_STATES))
        .values(state=state, finished_at=utcnow())).rowcount
    if ended:
        log.info("bundle %s finished %s", bundle_id, state)
        webhooks.bundle_finished(bundle, progress)  # in the same transaction
    return bool(ended)


def cancel_shot(shot):
    """Mark one shot cancelled; returns its task id for revoking, or None if too late."""
    if not shot.cancellable:
        return None
    shot.state = ShotState.CANCELLED
    shot.error = "cancelled"
    shot.finished_at = utcnow()
    return shot.task_id or ""


def cancel_bundle(bundle):
    """Cancel every shot that can still stop; the bundle ends `cancelled` once the captured
    ones are processed. Returns the task ids to revoke."""
    if bundle.finished:
        return []
    task_ids = [cancel_shot(shot) for shot in bundle.shots]
    db.session.flush()  # the shots first (the session writes them in the order of their ids)
    bundle.cancelled_at = utcnow()
    db.session.flush()
    settle(bundle.id)
    log.info("bundle %s cancelled", bundle.id)
    return [task_id for task_id in task_ids if task_id]


def reset_failed(bundle):
    """Put a finished bundle's failed shots back in the queue, as new; returns them."""
    shots = [shot for shot in bundle.shots if shot.state == ShotState.FAILED]
    for shot in shots:
        shot.state = ShotState.QUEUED
        shot.queued_at = utcnow()
        shot.attempts = 0
        for column in ("error", "title", "final_url", "http_status", "started_at",
                       "heartbeat_at", "captured_at", "finished_at", "capture_ms",
                       "dispatched_at", "task_id", "format", "truncated", "sha256", "facts",
                       "error_kind"):
            setattr(shot, column, None)
    if shots:
        db.session.flush()  # the shots before their bundle
        bundle.state = BundleState.RUNNING
        bundle.finished_at = None
    return shots


def requeue_silent(cutoff, max_attempts):
    """Captures whose process has been silent since before cutoff lost their worker: each
    goes back to the queue for another attempt, or fails once it has had max_attempts.
    Returns the ids of the bundles with a shot failed so (not committed).

    Each change is guarded by the silence it acts on: between reading and writing, another
    watchdog may have queued the shot again and a capture taken it (on PostgreSQL two
    watchdogs do run at once), and that capture must not be taken back."""
    silent = ((Shot.state == ShotState.RUNNING) & Shot.image_path.is_(None)
              & (func.coalesce(Shot.heartbeat_at, Shot.started_at) < cutoff))
    failed = set()
    for shot_id, bundle_id, attempts in db.session.execute(
            select(Shot.id, Shot.bundle_id, Shot.attempts).where(silent)
            .order_by(Shot.id)).all():
        still = update(Shot).where(Shot.id == shot_id, Shot.attempts == attempts, silent) \
            .execution_options(synchronize_session=False)
        if attempts >= max_attempts:
            message = lost_too_often(attempts)
            if db.session.execute(still.values(
                    state=ShotState.FAILED, error=message, error_kind="browser",
                    finished_at=utcnow())).rowcount:
                log.info("shot %s of bundle %s failed: %s", shot_id, bundle_id, message)
                failed.add(bundle_id)
        elif db.session.execute(still.values(
                state=ShotState.QUEUED, dispatched_at=None, started_at=None,
                heartbeat_at=None)).rowcount:
            log.warning("shot %s: its capture process went silent; queueing it again "
                        "(attempt %d of %d next)", shot_id, attempts + 1, max_attempts)
    return failed


def unprocessed(cutoff):
    """Ids of captured shots whose thumbnail step has not happened since before cutoff."""
    return db.session.scalars(select(Shot.id).where(
        Shot.state == ShotState.RUNNING, Shot.image_path.is_not(None),
        Shot.updated_at < cutoff)).all()


def undispatched_of(bundle_id):
    """The bundle's queued shots never sent to the broker."""
    return db.session.scalars(select(Shot).where(
        Shot.bundle_id == bundle_id, Shot.state == ShotState.QUEUED,
        Shot.dispatched_at.is_(None)).order_by(Shot.position)).all()


def undispatched(before):
    """Queued shots never sent to the broker, queued before `before`."""
    return db.session.scalars(select(Shot).where(
        Shot.state == ShotState.QUEUED, Shot.dispatched_at.is_(None),
        Shot.queued_at < before)).all()


def unsettled_bundles():
    """Ids of open bundles none of whose shots is open (their last shot's settle was lost)."""
    open_shot = exists().where(Shot.bundle_id == Bundle.id, Shot.state.in_(OPEN_SHOT_STATES))
    return db.session.scalars(select(Bundle.id).where(
        Bundle.state.in_(OPEN_BUNDLE_STATES), ~open_shot)).all()
