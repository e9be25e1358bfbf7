"""The watches API: URLs captured on a schedule, their captures and how each changed."""
from flask import Blueprint, current_app, jsonify, request, url_for

from ..extensions import db
from ..models import Watch, WatchRun, WebhookDelivery
from ..models import Bundle, Shot
from ..services import (NotFound, ServiceError, create_watch, delete_watch, edit_watch,
                        pause_watch, run_watch_now, watch_bundle)
from ..storage import MediaStore
from ..watches import schedule_of, shot_of
from . import schemas
from .access import owned, owner_id, visible
from .api import refused
from .media import image_url
from .openapi import answers, takes

bp = Blueprint("watches", __name__, url_prefix="/api/v1/watches")
bp.register_error_handler(ServiceError, refused)
PAGE_SIZE = 50
CAPTURES_SHOWN = 100
DELIVERIES_SHOWN = 20


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


@bp.post("")
@takes(body=schemas.WatchCreate)
@answers(201, schemas.Watch, errors=(400,), headers=("Location",))
def create(body):
    """Watch a page: capture it on a schedule and compare each capture with the one before."""
    watch = create_watch(body, request.remote_addr, owner_id())
    location = url_for("watches.show", watch_id=watch.id)
    return jsonify(watch_json(watch, secret=True)), 201, {"Location": location}


@bp.get("")
@takes(query=schemas.WatchQuery)
@answers(200, schemas.WatchPage, errors=(400,))
def index(args):
    """The watches you may see, newest first, 50 a page."""
    page = args["page"]
    query = owned(db.select(Watch), Watch).order_by(Watch.created_at.desc())
    rows = db.session.scalars(query.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)).all()
    return jsonify({"watches": [watch_json(w, captures=False) for w in rows[:PAGE_SIZE]],
                    "page": page, "next_page": page + 1 if len(rows) > PAGE_SIZE else None})


@bp.get("/<watch_id>")
@answers(200, schemas.Watch, errors=(404,))
def show(watch_id):
    """A watch with its webhook calls and its captures, newest first."""
    return jsonify(watch_json(_watch_or_404(watch_id)))


@bp.patch("/<watch_id>")
@takes(body=schemas.WatchPatch)
@answers(200, schemas.Watch, errors=(400, 404))
def patch(watch_id, body):
    """Change any of a watch's fields; the next run follows a new schedule from now."""
    watch = _watch_or_404(watch_id)
    edit_watch(watch, body)
    return jsonify(watch_json(watch))


@bp.post("/from-bundle/<bundle_id>")
@takes(body=schemas.WatchFromShots)
@answers(201, schemas.WatchesMade, errors=(400, 404))
def from_bundle(bundle_id, body):
    """Watch every page of a bundle, each with the options it was captured with."""
    bundle = visible(Bundle, bundle_id)
    if bundle is None:
        raise NotFound(f"No bundle with id {bundle_id}.")
    made = watch_bundle(bundle.shots, body, request.remote_addr, owner_id())
    return jsonify({"watches": [watch_json(w, secret=True, captures=False) for w in made]}), 201


@bp.post("/from-shot/<shot_id>")
@takes(body=schemas.WatchFromShots)
@answers(201, schemas.Watch, errors=(400, 404))
def from_shot(shot_id, body):
    """Watch a captured page, with the options it was captured with."""
    shot = visible(Shot, shot_id)
    if shot is None:
        raise NotFound(f"No shot with id {shot_id}.")
    made = watch_bundle([shot], body, request.remote_addr, owner_id())
    return jsonify(watch_json(made[0], secret=True)), 201


@bp.post("/<watch_id>/pause")
@answers(200, schemas.Watch, errors=(404,))
def pause(watch_id):
    """Stop a watch's runs until it is resumed."""
    watch = _watch_or_404(watch_id)
    pause_watch(watch, True)
    return jsonify(watch_json(watch, captures=False))


@bp.post("/<watch_id>/resume")
@answers(200, schemas.Watch, errors=(404,))
def resume(watch_id):
    """Run a paused watch again, from its next slot after now."""
    watch = _watch_or_404(watch_id)
    pause_watch(watch, False)
    return jsonify(watch_json(watch, captures=False))


@bp.post("/<watch_id>/run")
@answers(202, schemas.RunStarted, errors=(404,))
def run(watch_id):
    """Capture a watched page now, outside its schedule."""
    watch = _watch_or_404(watch_id)
    bundle = run_watch_now(watch)
    return jsonify({"bundle_id": bundle.id,
                    "url": url_for("api.show", bundle_id=bundle.id)}), 202


@bp.delete("/<watch_id>")
@takes(query=schemas.WatchDeleteQuery)
@answers(204, errors=(404,))
def delete(watch_id, args):
    """Delete a watch with its runs (their bundles stay); files=1 deletes their images."""
    watch = _watch_or_404(watch_id)
    delete_watch(watch, args.get("files") == "1", MediaStore(current_app.config["MEDIA_DIR"]))
    return "", 204
