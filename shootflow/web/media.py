"""Serving shot images, looked up through their rows."""
from flask import Blueprint, abort, current_app, send_file

from ..models import Shot
from ..storage import MediaStore
from .access import auth_on, visible

bp = Blueprint("media", __name__)


def _send(shot_id, attribute, mimetype):
    shot = visible(Shot, shot_id)
    relative = getattr(shot, attribute, None) if shot else None
    if not relative:
        abort(404)
    path = MediaStore(current_app.config["MEDIA_DIR"]).absolute(relative)
    response = send_file(path, mimetype=mimetype, max_age=86400)
    if auth_on():  # one user's image: the browser may keep it, a shared cache may not
        response.cache_control.public = False
        response.cache_control.private = True
    return response


@bp.get("/shots/<shot_id>/image.png")
def image(shot_id):
    return _send(shot_id, "image_path", "image/png")


@bp.get("/shots/<shot_id>/thumbnail.jpg")
def thumbnail(shot_id):
    return _send(shot_id, "thumbnail_path", "image/jpeg")
