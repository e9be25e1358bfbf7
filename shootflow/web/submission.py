"""Turning pasted URLs into a started bundle: validate, commit the rows, then enqueue."""
import logging

from flask import current_app
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from ..bundles import create_bundle, waiting_shots
from ..extensions import db
from ..netpolicy import NetPolicy
from ..ratelimit import URLRateLimit, storage_uri
from ..urls import check_destinations, read_url_list
from ..workflows import start_bundle

log = logging.getLogger(__name__)


class BrokerUnavailable(RuntimeError):
    """The task queue could not take the bundle; nothing was kept."""


# What publishing a canvas raises when the broker or the result store (Redis) is down.
BROKER_ERRORS = (OperationalError, RedisError, ConnectionError)


class RateLimited(RuntimeError):
    """The client has asked for too many URLs in the last minute, or has too many shots
    waiting; nothing was kept."""


def _rate_limit():
    limit = current_app.extensions.get("shootflow.ratelimit")
    if limit is None:
        limit = URLRateLimit(storage_uri(current_app.config["BROKER_URL"]))
        current_app.extensions["shootflow.ratelimit"] = limit
    return limit


def submit_bundle(lines, client, owner_id=None):
    """Create and start a bundle from URL lines; URLError for bad input, nothing written then."""
    config = current_app.config
    urls = read_url_list(lines, config["MAX_BUNDLE_URLS"])
    # The limit comes before the name lookups, which may take seconds: a client over its
    # limit costs a web thread no more than reading its text.
    per_minute = config["URLS_PER_MINUTE"]
    who = f"user:{owner_id}" if owner_id is not None else client  # with auth on, per user
    if not _rate_limit().take(who, len(urls), per_minute):
        raise RateLimited(f"Too many URLs: at most {per_minute:,} a minute from one client. "
                          "Wait a minute and try again.")
    cap = config["MAX_WAITING_SHOTS"]
    waiting = waiting_shots(owner_id, client) if cap > 0 else 0
    if waiting + len(urls) > cap > 0:
        raise RateLimited(f"You have {waiting:,} shots waiting to be captured, and at most "
                          f"{cap:,} may wait at once: wait for some to finish, or cancel a "
                          "bundle, then send these again.")
    check_destinations(urls, NetPolicy(config["ALLOWED_NETWORKS"]))
    bundle = create_bundle(list(urls), owner_id, client)
    db.session.commit()
    try:
        start_bundle(bundle)
    except BROKER_ERRORS as exc:
        log.error("bundle %s: broker unavailable (%s); removing it", bundle.id, exc)
        db.session.delete(bundle)
        db.session.commit()
        raise BrokerUnavailable(
            "The task queue is unavailable right now, so nothing was captured. "
            "Try again in a moment.") from exc
    log.info("bundle %s started with %d shots", bundle.id, len(urls))
    return bundle
