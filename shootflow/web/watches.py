"""The watches API: URLs captured on a schedule, their captures and how each changed."""
from flask import Blueprint, current_app, jsonify, request, url_for

from ..extensions import db
from ..models import Watch, WatchRun, WebhookDelivery
from ..models import Bundle, Shot
from ..services import (BadInput, ServiceError, create_watch, delete_watch, edit_watch,
                        pause_watch, run_watch_now, watch_bundle)
from ..storage import MediaStore
from ..watches import schedule_of, shot_of
from .access import owned, owner_id, visible
from .api import error
from .media import image_url

bp = Blueprint("watches", __name__, url_prefix="/api/v1/watches")
PAGE_SIZE = 50
CAPTURES_SHOWN = 100
DELIVERIES_SHOWN = 20


@bp.errorhandler(ServiceError)
def refused(exc):
    return error(str(exc), exc.status)


def capture_json(run):
    shot = shot_of(run)
    done = shot is not None and shot.state == "done"
    return {
        "shot_id": shot.id if shot else None,
        "captured_at": shot.captured_at.isoformat() + "Z" if shot and shot.captured_at else None,
        "state": shot.state if shot else None,
        "change": run.change,
        "changed": run.changed,
        "image_url": image_url(shot) if done else None,
        "thumbnail_url": url_for("media.thumbnail", shot_id=shot.id) if done else None,
        "diff_url": url_for("media.diff", run_id=run.id) if run.diff_path else None,
    }


def delivery_json(delivery):
    return {"event": delivery.event, "state": delivery.state, "attempts": delivery.attempts,
            "status": delivery.status, "error": delivery.error,
            "created_at": delivery.created_at.isoformat() + "Z",
            "delivered_at": (delivery.delivered_at.isoformat() + "Z"
                             if delivery.delivered_at else None)}


def watch_json(watch, secret=False, captures=True):
    body = {
        "id": watch.id, "url": watch.url, "schedule": watch.schedule,
        "schedule_words": schedule_of(watch).describe(), "timezone": watch.timezone,
        "options": watch.options or {}, "threshold": watch.threshold,
        "ignore": watch.ignore or [], "webhook_url": watch.webhook_url,
        "paused": watch.paused,
        "last_run_at": watch.last_run_at.isoformat() + "Z" if watch.last_run_at else None,
        "next_run_at": (watch.next_run_at.isoformat() + "Z"
                        if watch.next_run_at and not watch.paused else None),
    }
    if secret:
        body["secret"] = watch.secret
    if captures:
        deliveries = db.session.scalars(
            db.select(WebhookDelivery).where(WebhookDelivery.watch_id == watch.id)
            .order_by(WebhookDelivery.created_at.desc()).limit(DELIVERIES_SHOWN)).all()
        body["deliveries"] = [delivery_json(d) for d in deliveries]
        runs = db.session.scalars(db.select(WatchRun).where(WatchRun.watch_id == watch.id)
                                  .order_by(WatchRun.slot.desc()).limit(CAPTURES_SHOWN)).all()
        body["captures"] = [capture_json(run) for run in runs]
    return body


def _watch_or_404(watch_id):
    watch = visible(Watch, watch_id)
    if watch is None:
        raise NotFound(f"No watch with id {watch_id}.")
    return watch


class NotFound(ServiceError):
    status = 404


@bp.post("")
def create():
    watch = create_watch(request.get_json(silent=True), request.remote_addr, owner_id())
    location = url_for("watches.show", watch_id=watch.id)
    return jsonify(watch_json(watch, secret=True)), 201, {"Location": location}


@bp.get("")
def index():
    raw = request.args.get("page", "1")
    if not raw.isdigit() or int(raw) < 1:
        raise BadInput("page must be a whole number from 1.")
    page = int(raw)
    query = owned(db.select(Watch), Watch).order_by(Watch.created_at.desc())
    rows = db.session.scalars(query.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)).all()
    return jsonify({"watches": [watch_json(w, captures=False) for w in rows[:PAGE_SIZE]],
                    "page": page, "next_page": page + 1 if len(rows) > PAGE_SIZE else None})


@bp.get("/<watch_id>")
def show(watch_id):
    return jsonify(watch_json(_watch_or_404(watch_id)))


@bp.patch("/<watch_id>")
def patch(watch_id):
    watch = _watch_or_404(watch_id)
    edit_watch(watch, request.get_json(silent=True))
    return jsonify(watch_json(watch))


@bp.post("/from-bundle/<bundle_id>")
def from_bundle(bundle_id):
    """Watch every page of a bundle, each with the options it was captured with."""
    bundle = visible(Bundle, bundle_id)
    if bundle is None:
        raise NotFound(f"No bundle with id {bundle_id}.")
    made = watch_bundle(bundle.shots, request.get_json(silent=True), request.remote_addr,
                        owner_id())
    return jsonify({"watches": [watch_json(w, secret=True, captures=False) for w in made]}), 201


@bp.post("/from-shot/<shot_id>")
def from_shot(shot_id):
    """Watch a captured page, with the options it was captured with."""
    shot = visible(Shot, shot_id)
    if shot is None:
        raise NotFound(f"No shot with id {shot_id}.")
    made = watch_bundle([shot], request.get_json(silent=True), request.remote_addr,
                        owner_id())
    return jsonify(watch_json(made[0], secret=True)), 201


@bp.post("/<watch_id>/pause")
def pause(watch_id):
    watch = _watch_or_404(watch_id)
    pause_watch(watch, True)
    return jsonify(watch_json(watch, captures=False))


@bp.post("/<watch_id>/resume")
def resume(watch_id):
    watch = _watch_or_404(watch_id)
    pause_watch(watch, False)
    return jsonify(watch_json(watch, captures=False))


@bp.post("/<watch_id>/run")
def run(watch_id):
    watch = _watch_or_404(watch_id)
    bundle = run_watch_now(watch)
    return jsonify({"bundle_id": bundle.id,
                    "url": url_for("api.show", bundle_id=bundle.id)}), 202


@bp.delete("/<watch_id>")
def delete(watch_id):
    watch = _watch_or_404(watch_id)
    files = request.args.get("files") == "1"
    delete_watch(watch, files, MediaStore(current_app.config["MEDIA_DIR"]))
    return "", 204
