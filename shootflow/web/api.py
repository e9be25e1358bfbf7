"""The JSON API: the same rows as the pages, for scripts. Requests are loaded with the schemas
of web/schemas.py, which the OpenAPI document (/api/v1/openapi.json) is made from; every
error under /api is mapped to its answer here: {"error", "code", "field"?}."""
import threading
import time

from flask import Blueprint, current_app, jsonify, render_template, request, url_for
from werkzeug.exceptions import HTTPException, InternalServerError

from ..extensions import db
from ..history import bundle_version, decode_cursor, encode_cursor, find_bundles, previews
from ..lifecycle import options_for
from ..models import Bundle, Shot
from ..services import (NotFound, ServiceError, cancel_bundle, cancel_shot, delete_bundle,
                        retry_failed, submit_bundle)
from ..storage import MediaStore
from . import openapi, schemas
from .access import auth_on, owned, owner_id, visible
from .media import image_url
from .openapi import answers, takes

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# The code of an error answer nothing more precise was given for, by HTTP status.
STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 409: "conflict", 413: "too_large",
                429: "rate_limited", 500: "server_error", 503: "queue_unavailable"}


def error(message, status, code=None, field=None):
    body = {"error": message,
            "code": code or STATUS_CODES.get(status, "server_error" if status >= 500
                                             else "bad_request")}
    if field:
        body["field"] = field
    return jsonify(body), status


def refused(exc):
    """The answer to a ServiceError, for every API blueprint."""
    return error(str(exc), exc.status, exc.code, exc.field)


bp.register_error_handler(ServiceError, refused)


def _iso(moment):
    return moment.isoformat() + "Z" if moment else None


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


def status_json(bundle, counts):
    return {"id": bundle.id, "state": bundle.state, "total": sum(counts.values()),
            "counts": counts, "created_at": _iso(bundle.created_at),
            "finished_at": _iso(bundle.finished_at)}


def bundle_json(bundle, counts=None):
    """counts: the bundle's per-state counts, when the caller has them already."""
    body = status_json(bundle, counts or bundle.progress().counts)
    del body["total"]
    body["shots"] = [shot_json(shot) for shot in bundle.shots]
    return body


def _bundle_or_404(bundle_id):
    bundle = visible(Bundle, bundle_id)
    if bundle is None:
        raise NotFound(f"No bundle with id {bundle_id}.")
    return bundle


@bp.post("/bundles")
@takes(body=schemas.BundleCreate)
@answers(202, schemas.BundleCreated, errors=(400, 429, 503), headers=("Location",))
def create(body):
    """Submit a bundle of URLs; the answer comes once its rows are written."""
    bundle = submit_bundle(body["urls"], request.remote_addr, owner_id(), body.get("options"),
                           body.get("webhook_url"))
    location = url_for("api.show", bundle_id=bundle.id)
    answer = {"id": bundle.id, "url": location,
              "page_url": url_for("pages.bundle", bundle_id=bundle.id)}
    if bundle.webhook_secret:  # shown once: the key of the webhook's signature
        answer["webhook_secret"] = bundle.webhook_secret
    return jsonify(answer), 202, {"Location": location}


@bp.get("/bundles")
@takes(query=schemas.BundleQuery)
@answers(200, schemas.BundlePage, errors=(400,))
def index(args):
    """The bundles you may see, newest first, a page at a time."""
    page, after = find_bundles(owned(db.select(Bundle)), **args)
    shown = previews([bundle.id for bundle, _ in page])
    listed = []
    for bundle, counts in page:
        urls, title = shown[bundle.id]
        listed.append({**status_json(bundle, counts), "urls_preview": urls, "title": title})
    return jsonify({"bundles": listed, "next_cursor": after})


def _polled(bundle_id, kind, build):
    """Answer a poll of a bundle: 304 while the caller's ETag still matches its rows (found
    with one aggregate query; nothing else is read or built), else build(bundle, counts)."""
    bundle = _bundle_or_404(bundle_id)
    counts, version = bundle_version(bundle)
    etag = f"{kind}-{version}"
    if request.if_none_match.contains_weak(etag):
        response = current_app.response_class(status=304)
    else:
        response = jsonify(build(bundle, counts))
    response.set_etag(etag, weak=True)
    response.cache_control.no_cache = True  # keep it, but ask each time (cheap: a 304)
    response.cache_control.private = auth_on() or None
    return response


ETAG = {"name": "If-None-Match", "in": "header", "required": False,
        "schema": {"type": "string"},
        "description": "The ETag of your last copy: 304 Not Modified while it is current."}


@bp.get("/bundles/<bundle_id>")
@answers(200, schemas.Bundle, errors=(304, 404), headers=("ETag",), parameters=(ETAG,))
def show(bundle_id):
    """A bundle with every shot; prefer …/status and …/shots?since= for polling big ones."""
    return _polled(bundle_id, "bundle", bundle_json)


@bp.get("/bundles/<bundle_id>/status")
@answers(200, schemas.BundleStatus, errors=(304, 404), headers=("ETag",), parameters=(ETAG,))
def status(bundle_id):
    """A bundle's state and counts, without its shots: the cheap poll."""
    return _polled(bundle_id, "status", status_json)


@bp.get("/bundles/<bundle_id>/shots")
@takes(query=schemas.ShotQuery)
@answers(200, schemas.ShotPage, errors=(400, 404))
def shots(bundle_id, args):
    """A bundle's shots in order, a page at a time; with since, only those changed since."""
    bundle = _bundle_or_404(bundle_id)
    query = db.select(Shot).where(Shot.bundle_id == bundle.id)
    if "cursor" in args:
        query = query.where(Shot.position > decode_cursor(args["cursor"], int)[0])
    if "since" in args:
        query = query.where(Shot.updated_at >= args["since"])
    limit = args["limit"]
    rows = db.session.scalars(query.order_by(Shot.position).limit(limit + 1)).all()
    after = encode_cursor(rows[limit - 1].position) if len(rows) > limit else None
    return jsonify({"shots": [shot_json(shot) for shot in rows[:limit]], "next_cursor": after})


@bp.delete("/bundles/<bundle_id>")
@answers(204, errors=(404,))
def delete(bundle_id):
    """Delete a bundle, its shots and their images; a running one is cancelled first."""
    delete_bundle(_bundle_or_404(bundle_id), MediaStore(current_app.config["MEDIA_DIR"]))
    return "", 204


def _control(model, row_id, action):
    row = visible(model, row_id)
    if row is None:
        raise NotFound(f"No {model.__name__.lower()} with id {row_id}.")
    action(row)
    body = bundle_json(row) if isinstance(row, Bundle) else shot_json(row)
    return jsonify(body), 202


@bp.post("/bundles/<bundle_id>/cancel")
@answers(202, schemas.Bundle, errors=(404, 409))
def cancel(bundle_id):
    """Cancel a running bundle: queued shots never start, captures stop."""
    return _control(Bundle, bundle_id, cancel_bundle)


@bp.post("/bundles/<bundle_id>/retry")
@answers(202, schemas.Bundle, errors=(404, 409, 503))
def retry(bundle_id):
    """Queue a finished bundle's failed shots again."""
    return _control(Bundle, bundle_id, retry_failed)


@bp.post("/shots/<shot_id>/cancel")
@answers(202, schemas.Shot, errors=(404, 409))
def cancel_one(shot_id):
    """Cancel one queued or capturing shot."""
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
@takes(body=schemas.ShotCreate, query=schemas.ShotWait)
@answers(200, schemas.Shot, errors=(400, 429, 503), headers=("Location",))
@answers(202, schemas.Shot, headers=("Location",), description="Not finished within wait.")
def capture_now(body, args):
    """Capture one URL and answer with the finished shot, or 202 if it takes longer than wait
    (or if this web process already has its share of requests waiting)."""
    bundle = submit_bundle([body["url"]], request.remote_addr, owner_id(), body.get("options"))
    shot_id = bundle.shots[0].id
    location = url_for("api.show_shot", shot_id=shot_id)
    shot = _waiters().wait(shot_id, args["wait"],
                           current_app.config.get("SYNC_POLL_SECONDS", 0.05))
    status = 200 if shot.finished else 202
    return jsonify(shot_json(shot)), status, {"Location": location}


@bp.get("/shots/<shot_id>")
@answers(200, schemas.Shot, errors=(404,))
def show_shot(shot_id):
    """One shot, as in its bundle's shots."""
    shot = visible(Shot, shot_id)
    if shot is None:
        raise NotFound(f"No shot with id {shot_id}.")
    return jsonify(shot_json(shot))


@bp.get("/openapi.json")
@answers(200, "application/json", description="This API described in OpenAPI 3.")
def openapi_document():
    """This document."""
    return jsonify(openapi.document(current_app))


@bp.get("/docs")
@answers(200, "text/html", description="A page to browse this API's document.")
def docs():
    """The OpenAPI document, to browse."""
    return render_template("api_docs.html")


# Every answer under /api is JSON with an "error" and a "code", whatever went wrong and
# wherever (routing errors such as 405 happen before the blueprint is known, and sign-in,
# host and CSRF checks before any view: hence app-wide handlers).
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


@bp.after_app_request
def coded(response):
    """Give a code to the error answers written before any API view ran (sign-in, trusted
    host and CSRF checks answer {"error"} alone), from their status."""
    if response.status_code >= 400 and response.is_json and _for_api():
        body = response.get_json(silent=True)
        if isinstance(body, dict) and "error" in body and "code" not in body:
            body["code"] = STATUS_CODES.get(response.status_code, "bad_request")
            response.set_data(current_app.json.dumps(body))
    return response
