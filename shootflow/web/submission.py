"""Turning pasted URLs into a started bundle: validate, commit the rows, then enqueue."""
import logging

from flask import current_app
from kombu.exceptions import OperationalError

from ..bundles import create_bundle
from ..extensions import db
from ..urls import parse_url_list
from ..workflows import start_bundle

log = logging.getLogger(__name__)


class BrokerUnavailable(RuntimeError):
    """The task queue could not take the bundle; nothing was kept."""


def submit_bundle(lines):
    """Create and start a bundle from URL lines; URLError for bad input, nothing written then."""
    urls = parse_url_list(lines, current_app.config["MAX_BUNDLE_URLS"])
    bundle = create_bundle(urls)
    db.session.commit()
    try:
        start_bundle(bundle)
    except OperationalError as exc:
        log.error("bundle %s: broker unavailable (%s); removing it", bundle.id, exc)
        db.session.delete(bundle)
        db.session.commit()
        raise BrokerUnavailable(
            "The task queue is unavailable right now, so nothing was captured. "
            "Try again in a moment.") from exc
    log.info("bundle %s started with %d shots", bundle.id, len(urls))
    return bundle
