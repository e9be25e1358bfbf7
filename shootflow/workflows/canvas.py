"""The canvas of a bundle: a chord of capture-then-process chains, then finalize."""
from celery import chain, chord, group

from .tasks import capture, chord_failed, finalize_bundle, process


def bundle_signature(bundle):
    """chord(group(capture | process for each shot), finalize_bundle), with an errback."""
    header = group(
        chain(capture.si(shot.id).set(task_id=shot.task_id), process.s())
        for shot in bundle.shots)
    body = finalize_bundle.si(bundle.id).on_error(chord_failed.s(bundle_id=bundle.id))
    return chord(header, body)


def start_bundle(bundle):
    """Send the bundle's canvas to the broker; the rows must already be committed."""
    return bundle_signature(bundle).apply_async()
