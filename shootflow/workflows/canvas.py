"""The canvas of a bundle: a chord of capture-then-process chains, then the bundle's callback."""
from celery import chain, chord, current_app, group

from sqlalchemy import select

from ..models import Bundle, Shot
from ..urls import without_credentials
from .tasks import capture, chord_failed, finalize_bundle, process

REPR_URL_LENGTH = 200
# Every bundle's first shots go to the interactive lane, the rest of a big bundle to the bulk
# lane; capture workers take from the two in turn, so a one-URL bundle waits for one free
# slot, not behind another client's thousand pages.
INTERACTIVE_SHOTS = 5
# Watches' runs have a lane of their own: a large schedule never makes a person wait.
LANES = ("capture", "capture.bulk", "capture.scheduled")


def describe(shot):
    """How a task reads in Flower: which shot, which bundle, which page."""
    url = without_credentials(shot.url)  # Flower and /ops show this to every operator
    url = url if len(url) <= REPR_URL_LENGTH else url[:REPR_URL_LENGTH] + "…"
    return f"shot={shot.id} bundle={shot.bundle_id} url={url}"


def capture_lane(shot):
    """The queue a shot's capture goes to: 'capture' (interactive), 'capture.bulk', or
    'capture.scheduled' (a watch's run)."""
    if shot.bundle.watch_id is not None:
        return LANES[2]
    return LANES[0] if shot.position < INTERACTIVE_SHOTS else LANES[1]


def in_lane(lane):
    """A SQL condition: the shots whose captures go to lane."""
    scheduled = Shot.bundle_id.in_(select(Bundle.id).where(Bundle.watch_id.is_not(None)))
    if lane == LANES[2]:
        return scheduled
    by_position = (Shot.position < INTERACTIVE_SHOTS if lane == LANES[0]
                   else Shot.position >= INTERACTIVE_SHOTS)
    return by_position & ~scheduled


def shot_chains(shots, task_ids):
    """group(capture | process for each shot); task_ids[shot.id] is the id each capture
    message carries."""
    return group(
        chain(capture.si(shot.id).set(task_id=task_ids[shot.id], argsrepr=describe(shot),
                                      queue=capture_lane(shot)),
              process.s().set(argsrepr=describe(shot)))
        for shot in shots)


def bundle_signature(bundle_id, shots, task_ids):
    """chord(group(capture | process for each shot), finalize_bundle), with an errback."""
    body = finalize_bundle.si(bundle_id).set(argsrepr=f"bundle={bundle_id}")
    return chord(shot_chains(shots, task_ids),
                 body.on_error(chord_failed.s(bundle_id=bundle_id)))


def revoke(task_ids):
    """Tell every worker not to start these tasks (running ones are stopped via their rows)."""
    if task_ids:
        current_app.control.revoke(task_ids)
