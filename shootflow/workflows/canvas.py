"""The canvas of a bundle: a chord of capture-then-process chains, then finalize."""
from celery import chain, chord, current_app, group

from ..urls import without_credentials
from .tasks import capture, chord_failed, finalize_bundle, process

REPR_URL_LENGTH = 200
# Every bundle's first shots go to the interactive lane, the rest of a big bundle to the bulk
# lane; capture workers take from the two in turn, so a one-URL bundle waits for one free
# slot, not behind another client's thousand pages.
INTERACTIVE_SHOTS = 5


def _describe(shot):
    """How a task reads in Flower: which shot, which bundle, which page."""
    url = without_credentials(shot.url)  # Flower and /ops show this to every operator
    url = url if len(url) <= REPR_URL_LENGTH else url[:REPR_URL_LENGTH] + "…"
    return f"shot={shot.id} bundle={shot.bundle_id} url={url}"


def capture_lane(shot):
    """The queue a shot's capture goes to: 'capture' (interactive) or 'capture.bulk'."""
    return "capture" if shot.position < INTERACTIVE_SHOTS else "capture.bulk"


def bundle_signature(bundle, shots=None):
    """chord(group(capture | process for each shot), finalize_bundle), with an errback."""
    shots = bundle.shots if shots is None else shots
    header = group(
        chain(capture.si(shot.id).set(task_id=shot.task_id, argsrepr=_describe(shot),
                                      queue=capture_lane(shot)),
              process.s().set(argsrepr=_describe(shot)))
        for shot in shots)
    body = finalize_bundle.si(bundle.id).set(argsrepr=f"bundle={bundle.id}")
    return chord(header, body.on_error(chord_failed.s(bundle_id=bundle.id)))


def start_bundle(bundle, shots=None):
    """Send the canvas for the bundle (or some of its shots); rows must be committed first."""
    return bundle_signature(bundle, shots).apply_async()


def revoke(task_ids):
    """Tell every worker not to start these tasks (running ones are stopped via their rows)."""
    if task_ids:
        current_app.control.revoke(task_ids)
