"""Moving shots and bundles through their states, and the one place that decides a bundle is
over; no Flask views, no Celery. Each change is a guarded UPDATE, so two processes acting on
the same row (a redelivered message, the watchdog, a cancel) leave one outcome."""
import enum
import logging

from sqlalchemy import exists, func, select, update

from .extensions import db
from .images import image_size, make_thumbnail
from .models import (OPEN_BUNDLE_STATES, OPEN_SHOT_STATES, Bundle, BundleState, Shot,
                     ShotState, utcnow)

log = logging.getLogger(__name__)


def create_bundle(urls, owner_id=None, client=None):
    """Add a bundle with one queued shot per URL (not committed, not yet sent anywhere)."""
    bundle = Bundle(owner_id=owner_id, client=client)
    bundle.shots = [Shot(url=url, position=i) for i, url in enumerate(urls)]
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
    """Let the message task_id take the shot for one more attempt; commits."""
    now = utcnow()
    taken = db.session.execute(
        update(Shot).where(Shot.id == shot.id, Shot.attempts < max_attempts,
                           _claimable(task_id))
        .values(state=ShotState.RUNNING, task_id=task_id, started_at=now, heartbeat_at=now,
                attempts=Shot.attempts + 1)).rowcount
    if taken:
        db.session.execute(update(Bundle).where(Bundle.id == shot.bundle_id,
                                                Bundle.state == BundleState.QUEUED)
                           .values(state=BundleState.RUNNING))
    else:
        taken = -db.session.execute(
            update(Shot).where(Shot.id == shot.id, Shot.attempts >= max_attempts,
                               _claimable(task_id))
            .values(state=ShotState.FAILED, finished_at=now,
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


def fail_shot(shot, message):
    shot.state = ShotState.FAILED
    shot.error = message
    shot.finished_at = utcnow()
    log.info("shot %s of bundle %s failed: %s", shot.id, shot.bundle_id, message)


def record_capture(shot, result, store):
    """Keep the original image and the page's facts; the thumbnail comes later."""
    path = store.shot_path(shot.id, "full.png")
    shot.image_bytes = store.write(path, result.png)
    shot.width, shot.height = image_size(result.png)
    shot.image_path = path
    shot.title = result.title
    shot.final_url = result.final_url
    shot.http_status = result.http_status
    shot.capture_ms = result.elapsed_ms
    shot.captured_at = utcnow()


def record_thumbnail(shot, store):
    """Make the thumbnail from the stored original and mark the shot done."""
    path = store.shot_path(shot.id, "thumb.jpg")
    store.write(path, make_thumbnail(store.read(shot.image_path)))
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
    state = bundle.progress().final_state(cancelled=bundle.cancelled_at is not None)
    ended = db.session.execute(
        update(Bundle).where(Bundle.id == bundle_id, Bundle.state.in_(OPEN_BUNDLE_STATES))
        .values(state=state, finished_at=utcnow())).rowcount
    if ended:
        log.info("bundle %s finished %s", bundle_id, state)
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
    bundle.cancelled_at = utcnow()
    task_ids = [cancel_shot(shot) for shot in bundle.shots]
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
                       "dispatched_at", "task_id"):
            setattr(shot, column, None)
    if shots:
        bundle.state = BundleState.RUNNING
        bundle.finished_at = None
    return shots


def requeue_silent(cutoff, max_attempts):
    """Captures whose process has been silent since before cutoff lost their worker: each
    goes back to the queue for another attempt, or fails once it has had max_attempts.
    Returns the ids of the bundles with a shot failed so (not committed)."""
    silent = db.session.scalars(select(Shot).where(
        Shot.state == ShotState.RUNNING, Shot.image_path.is_(None),
        func.coalesce(Shot.heartbeat_at, Shot.started_at) < cutoff)).all()
    failed = set()
    for shot in silent:
        if shot.attempts >= max_attempts:
            fail_shot(shot, lost_too_often(shot.attempts))
            failed.add(shot.bundle_id)
        else:
            log.warning("shot %s: its capture process went silent; queueing it again "
                        "(attempt %d of %d next)", shot.id, shot.attempts + 1, max_attempts)
            shot.state = ShotState.QUEUED
            shot.dispatched_at = shot.started_at = shot.heartbeat_at = None
    db.session.flush()
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
