"""The canvas of a bundle: a chord of capture-then-process chains, then the bundle's callback."""
from celery import chain, chord, current_app, group

from ..urls import without_credentials
from .tasks import capture, chord_failed, finalize_bundle, process

REPR_URL_LENGTH = 200
# Every bundle's first shots go to the interactive lane, the rest of a big bundle to the bulk
# lane; capture workers take from the two in turn, so a one-URL bundle waits for one free
# slot, not behind another client's thousand pages.
INTERACTIVE_SHOTS = 5
LANES = ("capture", "capture.bulk")


def describe(shot):
    """How a task reads in Flower: which shot, which bundle, which page."""
    url = without_credentials(shot.url)  # Flower and /ops show this to every operator
    url = url if len(url) <= REPR_URL_LENGTH else url[:REPR_URL_LENGTH] + "…"
    return f"shot={shot.id} bundle={shot.bundle_id} url={url}"


def capture_lane(position):
    """The queue a shot's capture goes to: 'capture' (interactive) or 'capture.bulk'."""
    return LANES[0] if position < INTERACTIVE_SHOTS else LANES[1]


def in_lane(column, lane):
    """A SQL condition on Shot.position: the shots whose captures go to lane."""
    return column < INTERACTIVE_SHOTS if lane == LANES[0] else column >= INTERACTIVE_SHOTS


def bundle_signature(bundle_id, shots, task_ids):
    """chord(group(capture | process for each shot), finalize_bundle), with an errback.
    task_ids[shot.id] is the id each capture message carries."""
    header = group(
        chain(capture.si(shot.id).set(task_id=task_ids[shot.id], argsrepr=describe(shot),
                                      queue=capture_lane(shot.position)),
              process.s().set(argsrepr=describe(shot)))
        for shot in shots)
    body = finalize_bundle.si(bundle_id).set(argsrepr=f"bundle={bundle_id}")
    return chord(header, body.on_error(chord_failed.s(bundle_id=bundle_id)))


def revoke(task_ids):
    """Tell every worker not to start these tasks (running ones are stopped via their rows)."""
    if task_ids:
        current_app.control.revoke(task_ids)
