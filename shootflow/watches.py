"""Watches through their life: made from a request's values, their due runs started (each
(watch, slot) once, enforced by the database), and each run scored against the one before.
No Flask views, no Celery."""
import logging

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from . import lifecycle, webhooks
from .extensions import db
from .images import ImageTooLarge, compare, fingerprint
from .models import Shot, ShotState, Watch, WatchRun, utcnow
from .schedules import parse_schedule

log = logging.getLogger(__name__)
DUE_PER_TICK = 1000


def schedule_of(watch):
    return parse_schedule(watch.schedule, watch.timezone, min_interval=0)


def start_due_runs(now, limit=DUE_PER_TICK):
    """Start a run for every watch that is due: a WatchRun for its slot and a one-shot
    bundle. A slot another tick (or another beat) took already is skipped; a watch that
    missed several slots while nothing ran runs once, and its next run is the next slot
    after now. Returns the bundles started (committed)."""
    # In one order for every tick (the id breaks ties): two ticks at once on PostgreSQL then
    # lock the watches' rows in the same order, and wait for each other, not deadlock.
    due = db.session.scalars(select(Watch).where(
        Watch.paused.is_(False), Watch.next_run_at <= now)
        .order_by(Watch.next_run_at, Watch.id).limit(limit)).all()
    started = []
    for watch in due:
        slot = watch.next_run_at
        watch.next_run_at = schedule_of(watch).next_after(now, anchor=watch.created_at)
        watch.last_run_at = now
        try:
            with db.session.begin_nested():
                bundle = lifecycle.create_bundle([watch.url], watch.owner_id, watch.client,
                                                 watch.options)
                bundle.watch_id = watch.id
                db.session.add(WatchRun(watch=watch, slot=slot, bundle=bundle))
        except IntegrityError:
            log.info("watch %s: the run for %s was started by another tick", watch.id, slot)
            continue
        started.append(bundle)
    db.session.commit()
    return started


def run_now(watch):
    """A run outside the schedule, for "run now": its slot is this moment."""
    bundle = lifecycle.create_bundle([watch.url], watch.owner_id, watch.client, watch.options)
    bundle.watch_id = watch.id
    db.session.add(WatchRun(watch=watch, slot=utcnow(), bundle=bundle))
    watch.last_run_at = utcnow()
    return bundle


def shot_of(run):
    return run.bundle.shots[0] if run.bundle and run.bundle.shots else None


def ignored_boxes(watch, *shots):
    """What a comparison of shots leaves out: the watch's rectangles, and the boxes its
    ignored elements had in each of the captures."""
    boxes = [box for box in (watch.ignore or []) if isinstance(box, dict)]
    for shot in shots:
        boxes += [dict(zip(("x", "y", "width", "height"), box))
                  for box in (shot.facts or {}).get("boxes", [])]
    return boxes


WAITING = "waiting"  # an earlier run is still open: compare once it has ended
LOOK_BACK = 20  # runs looked through for the previous finished capture


def previous_capture(run):
    """The capture a run is compared with: the latest earlier run's, if it finished with an
    image (failed and cancelled runs are passed over). WAITING while an earlier run is still
    open, so that runs finishing out of order are still compared in slot order; None for
    the first capture."""
    earlier = db.session.scalars(select(WatchRun).where(
        WatchRun.watch_id == run.watch_id, WatchRun.slot < run.slot)
        .order_by(WatchRun.slot.desc()).limit(LOOK_BACK)).all()
    for candidate in earlier:
        shot = shot_of(candidate)
        if shot is None or shot.state in (ShotState.FAILED, ShotState.CANCELLED):
            continue
        return shot if shot.state == ShotState.DONE else WAITING
    return None


def fingerprint_of(shot, store):
    """The shot's perceptual fingerprint, made once and kept in its facts."""
    facts = shot.facts or {}
    if "fingerprint" not in facts:
        shot.facts = {**facts, "fingerprint": fingerprint(store.read(shot.image_path),
                                                          shot.format or "png")}
    return shot.facts["fingerprint"]


# Matching fingerprints can hide a small change: the largest of 1,500 random edits in
# bench/fingerprint.py was 0.26% of the pixels (a thin line across the page). They stand in
# for the pixel comparison only where the threshold is well above that (the default, 1%,
# is); below it, every comparison counts pixels.
FINGERPRINT_FLOOR = 0.01


def looks_the_same(previous, shot, threshold, store):
    """The cheap first test: the same file (SHA-256), or, for a threshold of at least
    FINGERPRINT_FLOOR, the same size and perceptual fingerprint."""
    if previous.sha256 == shot.sha256:
        return True
    return threshold >= FINGERPRINT_FLOOR and \
        fingerprint_of(previous, store) == fingerprint_of(shot, store)


def score(run, shot, store):
    """Score a run's done capture against the previous one: the share of pixels changed
    (ignore regions left out), a difference picture, and whether it passes the watch's
    threshold; a change is told to the watch's webhook. Captures that look the same cost
    no pixel comparison (looks_the_same). Not committed."""
    previous = previous_capture(run)
    if previous is WAITING:
        return
    run.scored_at = utcnow()
    if previous is None:
        return  # the first capture: nothing to compare with
    run.previous_shot_id = previous.id
    if looks_the_same(previous, shot, run.watch.threshold, store):
        run.change, run.changed = 0.0, False
        return
    ignore = ignored_boxes(run.watch, previous, shot)
    share, picture = compare(store.read(previous.image_path), store.read(shot.image_path),
                             ignore, previous.format or "png", shot.format or "png")
    path = store.shot_path(shot.id, "diff.png")
    store.write(path, picture)
    run.change, run.diff_path = round(share, 6), path
    run.changed = share > run.watch.threshold
    if run.changed:
        webhooks.watch_changed(run, shot, previous)
    log.info("watch %s: %.2f%% changed (threshold %.2f%%)%s", run.watch_id, share * 100,
             run.watch.threshold * 100, ", a change" if run.changed else "")


def score_shot(shot, store):
    """Score the run whose capture this freshly processed shot is, in the same transaction
    that makes the shot done, so a finished run is a scored one; unless an earlier run is
    still open (score_ready does it once that has ended). Not committed."""
    run = db.session.scalar(select(WatchRun).where(WatchRun.bundle_id == shot.bundle_id))
    if run is not None and run.scored_at is None:
        score(run, shot, store)


def unscored_runs(watch_id):
    """A watch's done runs not compared yet, oldest first."""
    return db.session.scalars(
        select(WatchRun).join(Shot, Shot.bundle_id == WatchRun.bundle_id)
        .where(WatchRun.watch_id == watch_id, WatchRun.scored_at.is_(None),
               Shot.state == ShotState.DONE)
        .order_by(WatchRun.slot)).all()


def score_ready(watch_id, store):
    """Compare every done run of the watch whose earlier runs have ended, each committed on
    its own. A run is claimed by a guarded UPDATE first, so the images lane and the tick's
    sweep never score (or tell a webhook about) one run twice. Returns the runs scored."""
    scored = []
    for run in unscored_runs(watch_id):
        if previous_capture(run) is WAITING:
            continue
        claimed = db.session.execute(
            update(WatchRun).where(WatchRun.id == run.id, WatchRun.scored_at.is_(None))
            .values(scored_at=utcnow()).execution_options(synchronize_session=False))
        if claimed.rowcount != 1:
            db.session.rollback()
            continue
        try:
            score(run, shot_of(run), store)
        except (OSError, ImageTooLarge) as exc:
            log.error("watch %s: run %s could not be compared (%s)", watch_id, run.id, exc)
        db.session.commit()
        scored.append(run)
    return scored


def waiting_for_score(limit):
    """Watches with a done run not compared yet: the tick's sweep for runs that finished
    before an earlier one (or whose images-lane message was lost)."""
    return db.session.scalars(
        select(WatchRun.watch_id).join(Shot, Shot.bundle_id == WatchRun.bundle_id)
        .where(WatchRun.scored_at.is_(None), Shot.state == ShotState.DONE)
        .distinct().limit(limit)).all()


def prune(watch_id, keep, store):
    """Keep a watch's last `keep` runs: older runs go, with their bundles, rows and files,
    so a year of 15-minute runs does not fill the disk. Commits, then removes the files:
    no page shows a run whose image is gone."""
    old = db.session.scalars(select(WatchRun).where(WatchRun.watch_id == watch_id)
                             .order_by(WatchRun.slot.desc()).offset(keep)).all()
    shot_ids = []
    for run in old:
        bundle = run.bundle
        db.session.delete(run)
        if bundle is not None:
            shot_ids += [shot.id for shot in bundle.shots]
            db.session.delete(bundle)
    db.session.commit()
    for shot_id in shot_ids:
        store.remove_shot(shot_id)
    if old:
        log.info("watch %s: %d old runs removed (keeping %d)", watch_id, len(old), keep)
    return len(old)


def edit(watch, values):
    """Change a watch's schedule, time zone, options, threshold, ignore regions or webhook
    from checked values (see services.watch_values); the next run follows the new schedule
    from now (not committed)."""
    for key, value in values.items():
        setattr(watch, key, value)
    if {"schedule", "timezone"} & values.keys():
        watch.next_run_at = schedule_of(watch).next_after(utcnow(), anchor=utcnow())
