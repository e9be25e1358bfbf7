"""The JSON API: the same rows as the pages, for scripts."""
import threading
import time

from flask import Blueprint, current_app, jsonify, request, url_for
from werkzeug.exceptions import BadRequest, HTTPException, InternalServerError

from ..extensions import db
from ..lifecycle import options_for
from ..models import Bundle, Shot
from ..services import ServiceError, cancel_bundle, cancel_shot, retry_failed, submit_bundle
from .access import owner_id, visible
from .media import image_url

bp = Blueprint("api", __name__, url_prefix="/api/v1")
MAX_WAIT_SECONDS = 60


def error(message, status):
    return jsonify({"error": message}), status


def shot_json(shot):
    facts = shot.facts or {}
    timings = dict(facts.get("timings", {}))
    if shot.started_at and shot.dispatched_at:
        timings["queued"] = max(0, round((shot.started_at - shot.queued_at).total_seconds()
                                         * 1000))
    return {
        "id": shot.id,
        "bundle_id": shot.bundle_id,
        "url": shot.url,
        "state": shot.state,
        "title": shot.title,
        "final_url": shot.final_url,
        "http_status": shot.http_status,
        "error": shot.error,
        "error_kind": shot.error_kind,
        "image_url": image_url(shot) if shot.image_path else None,
        "thumbnail_url": (url_for("media.thumbnail", shot_id=shot.id)
                          if shot.thumbnail_path else None),
        "options": options_for(shot, current_app.config).to_json(),
        "format": shot.format,
        "width": shot.width,
        "height": shot.height,
        "truncated": shot.truncated,
        "blank": facts.get("blank", False),
        "bytes": shot.image_bytes,
        "sha256": shot.sha256,
        "redirects": facts.get("redirects", []),
        "response_headers": facts.get("response_headers", {}),
        "console_errors": facts.get("console_errors", []),
        "attempts": shot.attempts,
        "failed_attempts": facts.get("failed_attempts", []),
        "timings": timings,
    }


def bundle_json(bundle):
    return {
        "id": bundle.id,
        "state": bundle.state,
        "created_at": bundle.created_at.isoformat() + "Z",
        "finished_at": bundle.finished_at.isoformat() + "Z" if bundle.finished_at else None,
        "counts": bundle.progress().counts,
        "shots": [shot_json(shot) for shot in bundle.shots],
    }


def _json_object():
    try:
        payload = request.get_json(silent=True)
    except RecursionError:  # json.loads gives up on a few thousand levels of nesting
        raise BadRequest("The JSON is nested too deeply: send an object such as "
                         '{"urls": ["https://example.com"]}.') from None
    return payload if isinstance(payload, dict) else None


@bp.errorhandler(ServiceError)
def refused(exc):
    return error(str(exc), exc.status)


@bp.post("/bundles")
def create():
    payload = _json_object()
    if payload is None:
        return error('Send a JSON object like {"urls": ["https://example.com"]} '
                     "with Content-Type: application/json.", 400)
    urls = payload.get("urls")
    if not isinstance(urls, list):
        return error('"urls" must be a list of URL strings (or {"url", "options"} objects).',
                     400)
    bundle = submit_bundle(urls, request.remote_addr, owner_id(), payload.get("options"),
                           payload.get("webhook_url"))
    location = url_for("api.show", bundle_id=bundle.id)
    body = {"id": bundle.id, "url": location}
    if bundle.webhook_secret:  # shown once: the key of the webhook's signature
        body["webhook_secret"] = bundle.webhook_secret
    return jsonify(body), 202, {"Location": location}


@bp.get("/bundles/<bundle_id>")
def show(bundle_id):
    bundle = visible(Bundle, bundle_id)
    if bundle is None:
        return error(f"No bundle with id {bundle_id}.", 404)
    return jsonify(bundle_json(bundle))


def _control(model, row_id, action):
    row = visible(model, row_id)
    if row is None:
        return error(f"No {model.__name__.lower()} with id {row_id}.", 404)
    action(row)
    body = bundle_json(row) if isinstance(row, Bundle) else shot_json(row)
    return jsonify(body), 202


@bp.post("/bundles/<bundle_id>/cancel")
def cancel(bundle_id):
    return _control(Bundle, bundle_id, cancel_bundle)


@bp.post("/bundles/<bundle_id>/retry")
def retry(bundle_id):
    return _control(Bundle, bundle_id, retry_failed)


@bp.post("/shots/<shot_id>/cancel")
def cancel_one(shot_id):
    return _control(Shot, shot_id, cancel_shot)


class Waiters:
    """At most `slots` requests of this process wait for a capture at once; the others answer
    202 at once, so waiting callers can never take every web thread from the pages."""

    def __init__(self, slots):
        self.slots = threading.BoundedSemaphore(slots) if slots > 0 else None
        self.waiting = 0  # requests waiting now (read by tests and nothing else)

    def wait(self, shot_id, seconds, poll):
        """The shot once finished, or as it is after `seconds` (or at once, with no slot)."""
        if self.slots is None or not self.slots.acquire(blocking=False):
            return db.session.get(Shot, shot_id)
        self.waiting += 1
        try:
            deadline = time.monotonic() + seconds
            while True:
                db.session.expire_all()
                shot = db.session.get(Shot, shot_id)
                if shot.finished or time.monotonic() >= deadline:
                    return shot
                db.session.rollback()  # no transaction held open while sleeping
                time.sleep(poll)
        finally:
            self.waiting -= 1
            self.slots.release()


def _waiters():
    waiters = current_app.extensions.get("shootflow.waiters")
    if waiters is None:
        waiters = Waiters(current_app.config["WAITING_REQUESTS"])
        current_app.extensions["shootflow.waiters"] = waiters
    return waiters


@bp.post("/shots")
def capture_now():
    """Capture one URL and answer with the finished shot, or 202 if it takes longer than wait
    (or if this web process already has its share of requests waiting)."""
    raw_wait = request.args.get("wait", "30")
    if not raw_wait.isdigit() or int(raw_wait) > MAX_WAIT_SECONDS:
        return error(f"wait must be a whole number of seconds from 0 to {MAX_WAIT_SECONDS}.", 400)
    payload = _json_object()
    if payload is None or not isinstance(payload.get("url"), str):
        return error('Send a JSON object like {"url": "https://example.com"}.', 400)
    options = payload.get("options")
    if isinstance(options, dict) and isinstance(options.get("viewport"), list):
        return error('Option "viewport" takes one viewport here: send several to '
                     "POST /api/v1/bundles, which makes one shot for each.", 400)
    bundle = submit_bundle([payload["url"]], request.remote_addr, owner_id(),
                           payload.get("options"))
    shot_id = bundle.shots[0].id
    location = url_for("api.show_shot", shot_id=shot_id)
    shot = _waiters().wait(shot_id, int(raw_wait),
                           current_app.config.get("SYNC_POLL_SECONDS", 0.05))
    status = 200 if shot.finished else 202
    return jsonify(shot_json(shot)), status, {"Location": location}


@bp.get("/shots/<shot_id>")
def show_shot(shot_id):
    shot = visible(Shot, shot_id)
    if shot is None:
        return error(f"No shot with id {shot_id}.", 404)
    return jsonify(shot_json(shot))


# Every answer under /api is JSON with an "error", whatever went wrong and wherever (routing
# errors such as 405 happen before the blueprint is known, hence app-wide handlers).
MESSAGES = {404: "Not found.", 405: "Method not allowed.",
            413: "The request body is too large."}


def _for_api():
    return request.path.startswith(bp.url_prefix + "/") or request.path == bp.url_prefix


@bp.app_errorhandler(HTTPException)
def http_error(exc):
    if not _for_api():
        return exc
    message = MESSAGES.get(exc.code) or exc.description or exc.name
    return error(message, exc.code)


@bp.app_errorhandler(InternalServerError)
def server_error(exc):
    if not _for_api():
        return exc
    current_app.logger.error("API request %s %s failed", request.method, request.path)
    return error("Something went wrong on shootflow's side; the error is in its log. "
                 "Try again, and report it if it keeps happening.", 500)
