"""Downloads of a bundle: a ZIP of its images with their manifest and report, and the report on
its own. Both are streamed from rows read once, so the download needs no request context."""
import secrets

from flask import Blueprint, Response, current_app, url_for

from .. import exports
from ..models import Bundle
from ..storage import EXTENSIONS, MediaStore
from .access import visible
from .api import error
from .openapi import answers

bp = Blueprint("exports", __name__, url_prefix="/api/v1")


def _snapshot(bundle_id):
    """The export of a bundle the caller may see, or None (404, as GET /bundles/<id>)."""
    bundle = visible(Bundle, bundle_id)
    if bundle is None:
        return None
    return exports.snapshot(bundle, MediaStore(current_app.config["MEDIA_DIR"]),
                            current_app.config)


def _not_found(bundle_id):
    return error(f"No bundle with id {bundle_id}.", 404)


def _report_template():
    return current_app.jinja_env.get_template("report.html")


@bp.get("/bundles/<bundle_id>/export.zip")
@answers(200, "application/zip", errors=(404,), headers=("Content-Disposition",))
def bundle_zip(bundle_id):
    """The bundle as a ZIP: images, thumbnails, manifest.json, manifest.csv and report.html.

    Streamed as it is written, each image read from disk only when its turn comes; stored,
    not compressed, so its Content-Length is known. A running bundle gives what it has."""
    export = _snapshot(bundle_id)
    if export is None:
        return _not_found(bundle_id)
    report = _report_template().render(export=export, embedded=False)
    stream = exports.zip_stream(export, report)
    filename = f"shootflow-{export.header['bundle_id']}.zip"
    return Response(stream, mimetype="application/zip", headers={
        "Content-Length": str(len(stream)),
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",  # a running bundle's export changes from one to the next
    })


# The report carries its own style and script; only they (by nonce) may run, nothing loads.
REPORT_POLICY = ("default-src 'none'; img-src 'self' data:; style-src 'nonce-{nonce}'; "
                 "script-src 'nonce-{nonce}'; base-uri 'none'; form-action 'none'; "
                 "frame-ancestors 'none'")


@bp.get("/bundles/<bundle_id>/report.html")
@answers(200, "text/html", errors=(404,), headers=("Content-Disposition",))
def report(bundle_id):
    """The bundle's report as one HTML file that opens with no server.

    Thumbnails are inside it (data: URIs); each links to its image at this server."""
    export = _snapshot(bundle_id)
    if export is None:
        return _not_found(bundle_id)
    image_urls = {row["id"]: url_for("media.image", shot_id=row["id"], _external=True,
                                     ext=EXTENSIONS[row["format"] or "png"])
                  for row in (entry.row for entry in export.entries if entry.image_file)}
    nonce = secrets.token_urlsafe(16)
    pieces = _report_template().generate(export=export, embedded=True, image_urls=image_urls,
                                         nonce=nonce)
    filename = f"shootflow-{export.header['bundle_id']}-report.html"
    return Response(exports.chunked(pieces), mimetype="text/html", headers={
        "Content-Security-Policy": REPORT_POLICY.format(nonce=nonce),
        "Content-Disposition": f'inline; filename="{filename}"',
        "Cache-Control": "no-store",
    })
