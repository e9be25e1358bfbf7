"""Cancel and retry, shared by the pages and the API: rows first, then the broker."""
import logging


from .. import bundles
from ..extensions import db
from ..workflows import revoke, start_bundle
from .submission import BROKER_ERRORS, BrokerUnavailable

log = logging.getLogger(__name__)


class Conflict(Exception):
    """The action does not fit the row's state; the message says why."""


def _revoke_quietly(task_ids):
    """Revoking is a courtesy to the workers; the rows already stop the work."""
    try:
        revoke(task_ids)
    except BROKER_ERRORS as exc:
        log.warning("could not send revokes (%s); the rows stop the work anyway", exc)


def cancel_bundle(bundle):
    if bundle.finished:
        raise Conflict(f"The bundle has already finished ({bundle.state}).")
    task_ids = bundles.cancel_bundle(bundle)
    db.session.commit()
    _revoke_quietly(task_ids)


def cancel_shot(shot):
    task_id = bundles.cancel_shot(shot)
    if task_id is None:
        raise Conflict(f"The shot can no longer be cancelled ({shot.phase}).")
    bundles.settle(shot.bundle)
    db.session.commit()
    _revoke_quietly([task_id])


def retry_failed(bundle):
    """Capture the failed shots again as a new chord over just those shots."""
    if not bundle.finished:
        raise Conflict("The bundle is still running; retry once it has finished.")
    shots = bundles.reset_failed(bundle)
    if not shots:
        raise Conflict("The bundle has no failed shots to retry.")
    db.session.commit()
    try:
        start_bundle(bundle, shots)
    except BROKER_ERRORS as exc:
        for shot in shots:
            bundles.fail_shot(shot, "could not queue the retry: the task queue is unavailable")
        bundles.finalize(bundle)
        db.session.commit()
        raise BrokerUnavailable("The task queue is unavailable right now; try again in a moment.") \
            from exc
    log.info("bundle %s: retrying %d failed shots", bundle.id, len(shots))
    return shots
