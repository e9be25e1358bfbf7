"""Creating bundles and moving bundles and shots through their states; no Flask views, no Celery."""
import logging
import uuid

from sqlalchemy import exists, func, select, update

from .extensions import db
from .images import image_size, make_thumbnail
from .models import Bundle, Shot, utcnow

log = logging.getLogger(__name__)


def create_bundle(urls, owner_id=None, client=None):
    """Add a bundle with one queued shot per URL (not committed); task ids are fixed up front."""
    bundle = Bundle(owner_id=owner_id, client=client)
    bundle.shots = [Shot(url=url, position=i, task_id=str(uuid.uuid4()))
                    for i, url in enumerate(urls)]
    db.session.add(bundle)
    return bundle


def waiting_shots(owner_id=None, client=None):
    """How many shots of this owner's (or, without one, this client's) bundles are unfinished."""
    mine = Bundle.owner_id == owner_id if owner_id is not None else Bundle.client == client
    return db.session.scalar(select(func.count(Shot.id)).join(Bundle).where(
        mine, Shot.state.in_(("queued", "running"))))


def claim_shot(shot):
    """Atomically move a queued (or crashed-while-running) shot to running; False if it was
    cancelled or finished meanwhile. Commits, so a cancel in the web app cannot be overwritten."""
    now = utcnow()
    claimed = db.session.execute(
        update(Shot).where(Shot.id == shot.id, Shot.state.in_(("queued", "running")))
        .values(state="running", started_at=now)).rowcount
    db.session.execute(update(Bundle).where(Bundle.id == shot.bundle_id, Bundle.state == "queued")
                       .values(state="running"))
    db.session.commit()
    return bool(claimed)


def fail_shot(shot, message):
    shot.state = "failed"
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
    shot.state = "done"
    shot.finished_at = utcnow()


def finalize(bundle):
    """Settle the bundle: any shot still open is failed, then the state follows the shots."""
    for shot in bundle.shots:
        if not shot.finished:
            fail_shot(shot, "the capture was lost before it finished")
    bundle.state = bundle.final_state()
    bundle.finished_at = utcnow()
    log.info("bundle %s finished %s", bundle.id, bundle.state)


def settle(bundle):
    """Finalize the bundle once every shot is final; True when this call finalized it."""
    if bundle.finished or not bundle.complete:
        return False
    finalize(bundle)
    return True


def settle_after(shot):
    """Settle the shot's bundle if it has a cancelled shot: the chord of a bundle with a
    revoked member never calls back, so whoever finishes the last shot must. Call it after
    committing the shot, so two workers finishing the last two shots cannot both miss."""
    has_cancelled = db.session.scalar(db.select(
        exists().where(Shot.bundle_id == shot.bundle_id, Shot.state == "cancelled")))
    if has_cancelled:
        db.session.expire_all()
        settle(shot.bundle)


def cancel_shot(shot):
    """Mark one shot cancelled; returns its task id for revoking, or None if too late."""
    if not shot.cancellable:
        return None
    shot.state = "cancelled"
    shot.error = "cancelled"
    shot.finished_at = utcnow()
    return shot.task_id


def cancel_bundle(bundle):
    """Cancel every shot that can still stop; the bundle ends `cancelled`. Returns task ids."""
    if bundle.finished:
        return []
    bundle.cancelled_at = utcnow()
    task_ids = [cancel_shot(shot) for shot in bundle.shots]
    settle(bundle)
    log.info("bundle %s cancelled", bundle.id)
    return [task_id for task_id in task_ids if task_id]


def reset_failed(bundle):
    """Put a finished bundle's failed shots back in the queue; returns them (new task ids)."""
    shots = [shot for shot in bundle.shots if shot.state == "failed"]
    for shot in shots:
        shot.state = "queued"
        shot.task_id = str(uuid.uuid4())
        shot.queued_at = utcnow()
        for column in ("error", "title", "final_url", "http_status", "started_at",
                       "captured_at", "finished_at", "capture_ms"):
            setattr(shot, column, None)
    if shots:
        bundle.state = "running"
        bundle.finished_at = None
    return shots


def rescue_stuck(now, stuck_after):
    """Watchdog: end work whose messages or chord were lost.

    Returns (ids of captured shots whose processing must run again, bundles settled).
    A shot running longer than any capture may (the hard time limit plus a margin) has lost
    its worker and message: if it was captured only the thumbnail step is redone, otherwise
    it fails. A bundle whose shots are all final but which is still open has lost its chord
    callback."""
    cutoff = now - stuck_after
    stuck = db.session.scalars(db.select(Shot).where(
        Shot.state == "running", Shot.started_at < cutoff)).all()
    unprocessed = []
    for shot in stuck:
        if shot.image_path:  # processing is idempotent: it finishes or fails the shot
            unprocessed.append(shot.id)
        else:
            fail_shot(shot, "the capture was lost (its worker stopped answering)")
    db.session.flush()
    open_bundles = db.session.scalars(db.select(Bundle).where(
        Bundle.state.in_(("queued", "running")), Bundle.created_at < cutoff)).all()
    settled = [bundle for bundle in open_bundles if settle(bundle)]
    return unprocessed, settled
