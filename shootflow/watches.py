"""Watches through their life: made from a request's values, their due runs started (each
(watch, slot) once, enforced by the database), and each run scored against the one before.
No Flask views, no Celery."""
import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from . import lifecycle, webhooks
from .extensions import db
from .images import compare
from .models import ShotState, Watch, WatchRun, utcnow
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
    due = db.session.scalars(select(Watch).where(
        Watch.paused.is_(False), Watch.next_run_at <= now)
        .order_by(Watch.next_run_at).limit(limit)).all()
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


def _done_shot(run):
    shot = run.bundle.shots[0] if run.bundle and run.bundle.shots else None
    return shot if shot is not None and shot.state == ShotState.DONE else None


def ignored_boxes(watch, *shots):
    """What a comparison of shots leaves out: the watch's rectangles, and the boxes its
    ignored elements had in each of the captures."""
    boxes = [box for box in (watch.ignore or []) if isinstance(box, dict)]
    for shot in shots:
        boxes += [dict(zip(("x", "y", "width", "height"), box))
                  for box in (shot.facts or {}).get("boxes", [])]
    return boxes


def score_run(shot, store):
    """Score a watch's freshly processed shot against the watch's previous done capture:
    the share of pixels changed (ignore regions left out), a difference picture, and
    whether it passes the watch's threshold. Identical images (same SHA-256) cost no
    comparison; a change past the threshold is told to the watch's webhook. Returns the
    WatchRun, or None when the shot is no watch's (not committed)."""
    run = db.session.scalar(select(WatchRun).where(WatchRun.bundle_id == shot.bundle_id))
    if run is None:
        return None
    earlier = db.session.scalars(select(WatchRun).where(
        WatchRun.watch_id == run.watch_id, WatchRun.slot < run.slot)
        .order_by(WatchRun.slot.desc()).limit(20)).all()
    previous = next((s for s in map(_done_shot, earlier) if s is not None), None)
    if previous is None:
        return run  # the first capture: nothing to compare with
    if previous.sha256 == shot.sha256:
        run.change, run.changed = 0.0, False
        return run
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
    return run


def shot_of(run):
    return run.bundle.shots[0] if run.bundle and run.bundle.shots else None


def prune(watch_id, keep, store):
    """Keep a watch's last `keep` runs: older runs go, with their bundles, rows and files,
    so a year of 15-minute runs does not fill the disk (not committed)."""
    old = db.session.scalars(select(WatchRun).where(WatchRun.watch_id == watch_id)
                             .order_by(WatchRun.slot.desc()).offset(keep)).all()
    for run in old:
        bundle = run.bundle
        db.session.delete(run)
        if bundle is not None:
            for shot in bundle.shots:
                store.remove_shot(shot.id)
            db.session.delete(bundle)
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
