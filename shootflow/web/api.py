"""The JSON API: the same rows as the pages, for scripts."""
from flask import Blueprint, jsonify, request, url_for

from ..extensions import db
from ..models import Bundle
from ..urls import URLError
from .submission import BrokerUnavailable, submit_bundle

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def error(message, status):
    return jsonify({"error": message}), status


def shot_json(shot):
    return {
        "id": shot.id,
        "url": shot.url,
        "state": shot.state,
        "title": shot.title,
        "final_url": shot.final_url,
        "http_status": shot.http_status,
        "error": shot.error,
        "image_url": url_for("media.image", shot_id=shot.id) if shot.image_path else None,
        "thumbnail_url": (url_for("media.thumbnail", shot_id=shot.id)
                          if shot.thumbnail_path else None),
    }


def bundle_json(bundle):
    return {
        "id": bundle.id,
        "state": bundle.state,
        "created_at": bundle.created_at.isoformat() + "Z",
        "finished_at": bundle.finished_at.isoformat() + "Z" if bundle.finished_at else None,
        "counts": bundle.counts(),
        "shots": [shot_json(shot) for shot in bundle.shots],
    }


@bp.post("/bundles")
def create():
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        return error('Send a JSON object like {"urls": ["https://example.com"]} '
                     "with Content-Type: application/json.", 400)
    urls = payload.get("urls")
    if not isinstance(urls, list):
        return error('"urls" must be a list of URL strings.', 400)
    try:
        bundle = submit_bundle(urls)
    except URLError as exc:
        return error(str(exc), 400)
    except BrokerUnavailable as exc:
        return error(str(exc), 503)
    location = url_for("api.show", bundle_id=bundle.id)
    return jsonify({"id": bundle.id, "url": location}), 202, {"Location": location}


@bp.get("/bundles/<bundle_id>")
def show(bundle_id):
    bundle = db.session.get(Bundle, bundle_id)
    if bundle is None:
        return error(f"No bundle with id {bundle_id}.", 404)
    return jsonify(bundle_json(bundle))


@bp.errorhandler(404)
def not_found(_exc):
    return error("Not found.", 404)


@bp.errorhandler(405)
def method_not_allowed(_exc):
    return error("Method not allowed.", 405)


@bp.errorhandler(413)
def too_large(_exc):
    return error("The request body is too large.", 413)
