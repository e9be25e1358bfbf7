"""Serving shot images, looked up through their rows, with an ETag so that a browser or a
script asking again gets 304 Not Modified instead of the file."""
from flask import Blueprint, abort, current_app, send_file, url_for

from ..extensions import db
from ..models import Shot, Watch, WatchRun
from ..storage import EXTENSIONS, MediaStore
from .access import auth_on, visible

bp = Blueprint("media", __name__)


def _send(relative, mimetype, etag=True):
    """The file, cached for a day, with etag (True: from the file's size and time) and 304
    for an If-None-Match that matches; HEAD too (Flask answers it from the GET)."""
    path = MediaStore(current_app.config["MEDIA_DIR"]).absolute(relative)
    if not path.is_file():  # deleted since its row was read
        abort(404)
    response = send_file(path, mimetype=mimetype, max_age=86400, etag=etag)
    if auth_on():  # one user's image: the browser may keep it, a shared cache may not
        response.cache_control.public = False
        response.cache_control.private = True
    return response


MIMETYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp",
             "pdf": "application/pdf"}


def image_url(shot):
    """Where a captured shot's image is served, named for its format."""
    image_format = shot.format or "png"
    return url_for("media.image", shot_id=shot.id, ext=EXTENSIONS[image_format])


@bp.get("/shots/<shot_id>/image.<ext>")
def image(shot_id, ext):
    shot = visible(Shot, shot_id)
    image_format = (shot.format or "png") if shot else None
    if image_format is None or EXTENSIONS[image_format] != ext or not shot.image_path:
        abort(404)
    # The content's own hash when the capture recorded it: the same picture, the same tag.
    return _send(shot.image_path, MIMETYPES[image_format], shot.sha256 or True)


@bp.get("/watch-runs/<int:run_id>/diff.png")
def diff(run_id):
    """A watch run's difference picture: the later capture, changed pixels in red."""
    run = db.session.get(WatchRun, run_id)
    if run is None or run.diff_path is None or visible(Watch, run.watch_id) is None:
        abort(404)
    return _send(run.diff_path, "image/png")


@bp.get("/shots/<shot_id>/thumbnail.jpg")
def thumbnail(shot_id):
    shot = visible(Shot, shot_id)
    if shot is None or not shot.thumbnail_path:
        abort(404)
    return _send(shot.thumbnail_path, "image/jpeg")
