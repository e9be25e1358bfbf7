"""Serving shot images, looked up through their rows."""
from flask import Blueprint, abort, current_app, send_file

from ..models import Shot
from ..storage import MediaStore
from .access import visible

bp = Blueprint("media", __name__)


def _send(shot_id, attribute, mimetype):
    shot = visible(Shot, shot_id)
    relative = getattr(shot, attribute, None) if shot else None
    if not relative:
        abort(404)
    path = MediaStore(current_app.config["MEDIA_DIR"]).absolute(relative)
    return send_file(path, mimetype=mimetype, max_age=86400)


@bp.get("/shots/<shot_id>/image.png")
def image(shot_id):
    return _send(shot_id, "image_path", "image/png")


@bp.get("/shots/<shot_id>/thumbnail.jpg")
def thumbnail(shot_id):
    return _send(shot_id, "thumbnail_path", "image/jpeg")
