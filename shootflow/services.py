"""What people and scripts ask of shootflow: submit, cancel, retry, delete. Called by the
pages, the API and (later) the CLI and scheduler; no Flask request here. Each commits its rows
first and only then talks to the broker. A refusal is a ServiceError that carries its HTTP
status, a stable code and (for bad input) the request field at fault, and nothing has been
written when one is raised."""
import logging

from flask import current_app
from sqlalchemy import delete as sa_delete
from sqlalchemy import select, update

from . import lifecycle, watches
from .capture.options import OptionError, read_options
from .extensions import db
from .models import (OPEN_BUNDLE_STATES, Bundle, Shot, Watch, WatchRun, WebhookDelivery,
                     new_secret, owner_key, utcnow)
from .schedules import ScheduleError, parse_schedule
from .netpolicy import NetPolicy
from .ratelimit import URLRateLimit, storage_uri
from .urls import URLError, check_destinations, read_url_list
from .workflows import BROKER_ERRORS, revoke, send_bundle

log = logging.getLogger(__name__)


class ServiceError(Exception):
    """A request shootflow refuses; str() is the message for the person, status the HTTP one,
    code a stable word for scripts and field the request field at fault (None: no one field).
    """
    status = 400
    code = "invalid_value"

    def __init__(self, message, *, code=None, field=None):
        super().__init__(message)
        self.code = code or self.code
        self.field = field


class BadInput(ServiceError):
    status = 400


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Conflict(ServiceError):
    """The action does not fit the row's state; the message says why."""
    status = 409
    code = "conflict"


class RateLimited(ServiceError):
    """Too many URLs in the last minute, or too many shots waiting."""
    status = 429
    code = "rate_limited"


class BrokerUnavailable(ServiceError):
    """The task queue could not take the work; nothing was kept."""
    status = 503
    code = "queue_unavailable"


UNAVAILABLE = ("The task queue is unavailable right now, so nothing was captured. "
               "Try again in a moment.")


def _rate_limit():
    limit = current_app.extensions.get("shootflow.ratelimit")
    if limit is None:
        limit = URLRateLimit(storage_uri(current_app.config))
        current_app.extensions["shootflow.ratelimit"] = limit
    return limit


def _options(raw, where="options"):
    """read_options, its refusal naming the field (options.scale, urls[2].options.hide[0])."""
    try:
        return read_options(raw)
    except OptionError as exc:
        field = where if exc.name == "options" else f"{where}.{exc.name}"
        raise BadInput(str(exc), field=field) from None


def _url_list(lines, limit):
    """read_url_list, its refusal coded: no_urls, too_many_urls, or invalid_url."""
    try:
        return read_url_list(lines, limit)
    except URLError as exc:
        raise BadInput(str(exc), code=exc.code, field="urls") from None


def _read_items(items, options):
    """URL lines (strings) or {"url", "options"} objects -> ({url: (number, line)}, the
    bundle's options, {url: its own options})."""
    options = _options(options)
    lines, own = [], {}
    for number, item in enumerate(items, start=1):
        if isinstance(item, dict):
            if not isinstance(item.get("url"), str) or set(item) - {"url", "options"}:
                raise BadInput(f'Item {number} must be a URL string or an object such as '
                               '{"url": "https://example.com", "options": {"full_page": true}}.',
                               field=f"urls[{number - 1}]")
            try:
                own[number] = _options(item.get("options"), f"urls[{number - 1}].options")
            except BadInput as exc:
                raise BadInput(f"Item {number} ({item['url'][:80]}): {exc}",
                               field=exc.field) from None
            item = item["url"]
        lines.append(item)
    urls = _url_list(lines, current_app.config["MAX_BUNDLE_URLS"])
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
                       f"this one would have {len(shots):,}. Split it into several bundles.",
                       code="too_many_urls", field="urls")
    return shots


def submit_bundle(lines, client, owner_id=None, options=None, webhook_url=None):
    """Create a bundle from URL lines (or {"url", "options"} objects) and capture options,
    and have it dispatched; answers as soon as the rows are committed and one small message
    is sent (the captures are sent by a worker). webhook_url is told when it finishes."""
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
        raise BadInput(str(exc), code="invalid_url", field="urls") from None
    webhook = _one_url(webhook_url, "webhook_url") if webhook_url is not None else None
    bundle = lifecycle.create_bundle([url for url, _ in shots], owner_id, client, options,
                                     [mine for _, mine in shots])
    if webhook:
        bundle.webhook_url, bundle.webhook_secret = webhook, new_secret()
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


def delete_bundle(bundle, store):
    delete_bundles([bundle.id], store)


def delete_bundles(ids, store):
    """Remove the bundles of these ids with their shots' rows and files, and their watch runs, in one
    transaction; those still running are cancelled first, so no worker starts on them again.
    Their webhook deliveries stay in the outbox, no longer pointing at them: what they tell
    did happen."""
    for bundle in db.session.scalars(select(Bundle).where(
            Bundle.id.in_(ids), Bundle.state.in_(OPEN_BUNDLE_STATES))).all():
        try:
            cancel_bundle(bundle)
        except Conflict:  # it finished meanwhile
            db.session.rollback()
    shot_ids = db.session.scalars(select(Shot.id).where(Shot.bundle_id.in_(ids))).all()
    db.session.execute(update(WebhookDelivery).where(WebhookDelivery.bundle_id.in_(ids))
                       .values(bundle_id=None))
    db.session.execute(sa_delete(WatchRun).where(WatchRun.bundle_id.in_(ids)))
    db.session.execute(sa_delete(Shot).where(Shot.bundle_id.in_(ids)))
    db.session.execute(sa_delete(Bundle).where(Bundle.id.in_(ids)))
    db.session.commit()
    for shot_id in shot_ids:  # once the rows are gone: no page shows a missing file
        store.remove_shot(shot_id)
    log.info("%d bundles deleted (%s) with %d shots", len(ids), ", ".join(ids[:5])
             + (", …" if len(ids) > 5 else ""), len(shot_ids))


# Watches ---------------------------------------------------------------------------------

def _threshold(value):
    if value is None:
        return 0.01
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise BadInput('"threshold" must be the share of pixels that must change, from 0 to 1 '
                       "(such as 0.01).", field="threshold")
    return float(value)


def _ignore(value):
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > 50:
        raise BadInput('"ignore" must be a list of at most 50 CSS selectors or rectangles '
                       'such as {"x": 0, "y": 0, "width": 1280, "height": 80}.', field="ignore")
    boxes = []
    for number, box in enumerate(value, start=1):
        if isinstance(box, str):
            if not box.strip() or len(box) > 1000:
                raise BadInput(f'"ignore" item {number} must be a CSS selector of 1 to 1,000 '
                               "characters, or a rectangle.", field=f"ignore[{number - 1}]")
            boxes.append(box.strip())
            continue
        keys = ("x", "y", "width", "height")
        if not isinstance(box, dict) or set(box) != set(keys) or not all(
                isinstance(box[k], int) and not isinstance(box[k], bool) and 0 <= box[k] <= 65536
                for k in keys) or not box["width"] or not box["height"]:
            raise BadInput(f'"ignore" item {number} must be a CSS selector or a rectangle '
                           '{"x", "y", "width", "height"} of whole pixels (width and height '
                           "above 0).", field=f"ignore[{number - 1}]")
        boxes.append({k: box[k] for k in keys})
    return boxes


def _one_url(text, what):
    """One URL as submits read them: normalised, and its destination allowed."""
    if not isinstance(text, str):
        raise BadInput(f'"{what}" must be a URL string.', code="invalid_url", field=what)
    try:
        urls = read_url_list([text], 1)
        check_destinations(urls, NetPolicy(current_app.config["ALLOWED_NETWORKS"]))
    except URLError as exc:
        raise BadInput(f'"{what}": {exc}'.replace("Line 1 ", ""), code="invalid_url",
                       field=what) from None
    return next(iter(urls))


WATCH_FIELDS = ("url", "schedule", "timezone", "options", "threshold", "ignore",
                "webhook_url")


def watch_values(values, current=None):
    """Checked column values for a watch from a request's fields: every field for a new
    watch (current None), only those given for an edit of current."""
    if not isinstance(values, dict):
        raise BadInput('Send a JSON object such as {"url": "https://example.com", '
                       '"schedule": "every 15 minutes"}.', code="invalid_json")
    unknown = sorted(set(values) - set(WATCH_FIELDS))
    if unknown:
        raise BadInput(f'"{unknown[0][:40]}" is not a field of a watch.', field=unknown[0])
    given = values if current is not None else {"timezone": "UTC", **values}
    checked = {}
    if "url" in given or current is None:
        checked["url"] = _one_url(given.get("url"), "url")
    if {"schedule", "timezone"} & given.keys() or current is None:
        try:
            schedule = parse_schedule(given.get("schedule", current and current.schedule),
                                      given.get("timezone", current and current.timezone),
                                      current_app.config["MIN_WATCH_INTERVAL"])
        except ScheduleError as exc:  # its message starts with the field it is about
            field = "timezone" if str(exc).startswith('"timezone"') else "schedule"
            raise BadInput(str(exc), field=field) from None
        checked["schedule"], checked["timezone"] = schedule.text, schedule.tz.key
    if "options" in given:
        options = _options(given["options"])
        if isinstance(options.get("viewport"), list):
            raise BadInput('Option "viewport" takes one viewport for a watch.',
                           field="options.viewport")
        checked["options"] = options or None
    if "threshold" in given or current is None:
        checked["threshold"] = _threshold(given.get("threshold"))
    if "ignore" in given:
        checked["ignore"] = _ignore(given["ignore"])
    if "webhook_url" in given:
        webhook = given["webhook_url"]
        checked["webhook_url"] = _one_url(webhook, "webhook_url") if webhook is not None \
            else None
    return checked


def create_watch(values, client, owner_id=None):
    """A watch from a request's values; its first run is the schedule's next slot."""
    watch = Watch(**watch_values(values), owner_id=owner_id, client=client)
    watch.created_at = utcnow()
    watch.next_run_at = watches.schedule_of(watch).next_after(watch.created_at,
                                                              anchor=watch.created_at)
    db.session.add(watch)
    db.session.commit()
    log.info("watch %s of %s: %s", watch.id, watch.url, watches.schedule_of(watch).describe())
    return watch


def watch_bundle(shots, values, client, owner_id=None):
    """Watches of captured pages, one per URL: each with its shot's options unless values
    give others. Nothing is kept if any is refused."""
    if not isinstance(values, dict):
        raise BadInput('Send a JSON object such as {"schedule": "every 15 minutes"}.',
                       code="invalid_json")
    if "url" in values:
        raise BadInput('"url" comes from the shots here; leave it out.', field="url")
    made, seen = [], set()
    for shot in shots:
        if shot.url in seen:
            continue
        seen.add(shot.url)
        own = {**(shot.bundle.options or {}), **(shot.options or {})}
        fields = {"options": own, **values, "url": shot.url}
        watch = Watch(**watch_values(fields), owner_id=owner_id, client=client)
        watch.created_at = utcnow()
        watch.next_run_at = watches.schedule_of(watch).next_after(watch.created_at,
                                                                  anchor=watch.created_at)
        made.append(watch)
    db.session.add_all(made)
    db.session.commit()
    return made


def edit_watch(watch, values):
    watches.edit(watch, watch_values(values, current=watch))
    db.session.commit()


def pause_watch(watch, paused):
    watch.paused = paused
    if not paused:  # resumed: the next slot from now, not the ones missed while paused
        watch.next_run_at = watches.schedule_of(watch).next_after(utcnow(),
                                                                  anchor=watch.created_at)
    db.session.commit()


def run_watch_now(watch):
    bundle = watches.run_now(watch)
    db.session.commit()
    try:
        send_bundle(bundle.id)
    except BROKER_ERRORS as exc:  # the row stays unsent: the watchdog sends it
        log.warning("watch %s: run now not sent yet (%s)", watch.id, exc)
    return bundle


def delete_watch(watch, files=False, store=None):
    """Remove the watch, its runs and its webhook deliveries. The runs' bundles stay, without
    their watch, in the history; with files, they go too, with their images."""
    bundle_ids = [run.bundle_id for run in watch.runs if run.bundle_id is not None]
    db.session.execute(sa_delete(WebhookDelivery).where(WebhookDelivery.watch_id == watch.id))
    db.session.execute(update(Bundle).where(Bundle.id.in_(bundle_ids)).values(watch_id=None))
    db.session.delete(watch)
    db.session.commit()
    if files and store is not None and bundle_ids:
        delete_bundles(bundle_ids, store)
