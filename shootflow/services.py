"""What people and scripts ask of shootflow: submit, cancel, retry. Called by the pages, the
API and (later) the CLI and scheduler; no Flask request here. Each commits its rows first and
only then talks to the broker. A refusal is a ServiceError that carries its HTTP status, and
nothing has been written when one is raised."""
import logging

from flask import current_app

from . import lifecycle
from .capture.options import OptionError, read_options
from .extensions import db
from .models import owner_key
from .netpolicy import NetPolicy
from .ratelimit import URLRateLimit, storage_uri
from .urls import URLError, check_destinations, read_url_list
from .workflows import BROKER_ERRORS, revoke, send_bundle

log = logging.getLogger(__name__)


class ServiceError(Exception):
    """A request shootflow refuses; str() is the message for the person, status the HTTP one."""
    status = 400


class BadInput(ServiceError):
    status = 400


class Conflict(ServiceError):
    """The action does not fit the row's state; the message says why."""
    status = 409


class RateLimited(ServiceError):
    """Too many URLs in the last minute, or too many shots waiting."""
    status = 429


class BrokerUnavailable(ServiceError):
    """The task queue could not take the work; nothing was kept."""
    status = 503


UNAVAILABLE = ("The task queue is unavailable right now, so nothing was captured. "
               "Try again in a moment.")


def _rate_limit():
    limit = current_app.extensions.get("shootflow.ratelimit")
    if limit is None:
        limit = URLRateLimit(storage_uri(current_app.config["BROKER_URL"]))
        current_app.extensions["shootflow.ratelimit"] = limit
    return limit


def _read_items(items, options):
    """URL lines (strings) or {"url", "options"} objects -> ({url: (number, line)}, the
    bundle's options, {url: its own options})."""
    try:
        options = read_options(options)
    except OptionError as exc:
        raise BadInput(str(exc)) from None
    lines, own = [], {}
    for number, item in enumerate(items, start=1):
        if isinstance(item, dict):
            if not isinstance(item.get("url"), str) or set(item) - {"url", "options"}:
                raise BadInput(f'Item {number} must be a URL string or an object such as '
                               '{"url": "https://example.com", "options": {"full_page": true}}.')
            try:
                own[number] = read_options(item.get("options"))
            except OptionError as exc:
                raise BadInput(f"Item {number} ({item['url'][:80]}): {exc}") from None
            item = item["url"]
        lines.append(item)
    try:
        urls = read_url_list(lines, current_app.config["MAX_BUNDLE_URLS"])
    except URLError as exc:
        raise BadInput(str(exc)) from None
    return urls, options, {url: own.get(number) for url, (number, _) in urls.items()}


def _shots(urls, options, own):
    """(url, the shot's own options) for each shot: one per URL and viewport it asks for."""
    shots = []
    for url in urls:
        mine = own.get(url) or {}
        viewport = mine.get("viewport", options.get("viewport"))
        if isinstance(viewport, list):
            shots += [(url, {**mine, "viewport": each}) for each in viewport]
        else:
            shots.append((url, mine))
    limit = current_app.config["MAX_BUNDLE_URLS"]
    if len(shots) > limit:
        raise BadInput(f"A bundle can hold at most {limit:,} shots (URLs times viewports); "
                       f"this one would have {len(shots):,}. Split it into several bundles.")
    return shots


def submit_bundle(lines, client, owner_id=None, options=None):
    """Create a bundle from URL lines (or {"url", "options"} objects) and capture options,
    and have it dispatched; answers as soon as the rows are committed and one small message
    is sent (the captures are sent by a worker)."""
    config = current_app.config
    urls, options, own = _read_items(lines, options)
    shots = _shots(urls, options, own)
    # The limit comes before the name lookups, which may take seconds: a client over its
    # limit costs a web thread no more than reading its text.
    per_minute = config["URLS_PER_MINUTE"]
    if not _rate_limit().take(owner_key(owner_id, client), len(shots), per_minute):
        raise RateLimited(f"Too many URLs: at most {per_minute:,} a minute from one client. "
                          "Wait a minute and try again.")
    cap = config["MAX_WAITING_SHOTS"]
    waiting = lifecycle.waiting_shots(owner_id, client) if cap > 0 else 0
    if waiting + len(shots) > cap > 0:
        raise RateLimited(f"You have {waiting:,} shots waiting to be captured, and at most "
                          f"{cap:,} may wait at once: wait for some to finish, or cancel a "
                          "bundle, then send these again.")
    try:
        check_destinations(urls, NetPolicy(config["ALLOWED_NETWORKS"]))
    except URLError as exc:
        raise BadInput(str(exc)) from None
    bundle = lifecycle.create_bundle([url for url, _ in shots], owner_id, client, options,
                                     [mine for _, mine in shots])
    db.session.commit()
    try:
        send_bundle(bundle.id)
    except BROKER_ERRORS as exc:
        log.error("bundle %s: broker unavailable (%s); removing it", bundle.id, exc)
        db.session.delete(bundle)
        db.session.commit()
        raise BrokerUnavailable(UNAVAILABLE) from exc
    log.info("bundle %s submitted with %d shots", bundle.id, len(shots))
    return bundle


def _revoke_quietly(task_ids):
    """Revoking is a courtesy to the workers; the rows already stop the work."""
    try:
        revoke(task_ids)
    except BROKER_ERRORS as exc:
        log.warning("could not send revokes (%s); the rows stop the work anyway", exc)


def cancel_bundle(bundle):
    if bundle.finished:
        raise Conflict(f"The bundle has already finished ({bundle.state}).")
    task_ids = lifecycle.cancel_bundle(bundle)
    db.session.commit()
    _revoke_quietly(task_ids)


def cancel_shot(shot):
    task_id = lifecycle.cancel_shot(shot)
    if task_id is None:
        raise Conflict(f"The shot can no longer be cancelled ({shot.phase}).")
    db.session.flush()
    lifecycle.settle(shot.bundle_id)
    db.session.commit()
    _revoke_quietly([task_id] if task_id else [])


def retry_failed(bundle):
    """Queue the failed shots of a finished bundle again; they are dispatched like new ones."""
    if not bundle.finished:
        raise Conflict("The bundle is still running; retry once it has finished.")
    shots = lifecycle.reset_failed(bundle)
    if not shots:
        raise Conflict("The bundle has no failed shots to retry.")
    db.session.commit()
    try:
        send_bundle(bundle.id)
    except BROKER_ERRORS as exc:
        for shot in shots:
            lifecycle.fail_shot(shot, "could not queue the retry: the task queue is unavailable")
        db.session.flush()
        lifecycle.settle(bundle.id)
        db.session.commit()
        raise BrokerUnavailable("The task queue is unavailable right now; try again in a "
                                "moment.") from exc
    log.info("bundle %s: retrying %d failed shots", bundle.id, len(shots))
    return shots
