"""Pages for people: the paste form, a bundle filling in, one shot in full."""
from flask import Blueprint, redirect, render_template, request, url_for

from ..extensions import db, htmx
from ..models import Bundle, Shot
from ..urls import URLError
from .submission import BrokerUnavailable, submit_bundle

bp = Blueprint("pages", __name__)
RECENT_BUNDLES = 20


def _home(urls_text="", error=None, status=200):
    recent = db.session.scalars(
        db.select(Bundle).order_by(Bundle.created_at.desc()).limit(RECENT_BUNDLES)).all()
    return render_template("index.html", recent=recent, urls_text=urls_text,
                           error=error), status


@bp.get("/")
def index():
    return _home()


@bp.post("/bundles")
def create():
    urls_text = request.form.get("urls", "")
    try:
        bundle = submit_bundle(urls_text.splitlines())
    except URLError as exc:
        return _home(urls_text, str(exc), 400)
    except BrokerUnavailable as exc:
        return _home(urls_text, str(exc), 503)
    return redirect(url_for("pages.bundle", bundle_id=bundle.id), 303)


@bp.get("/bundles/<bundle_id>")
def bundle(bundle_id):
    bundle = db.get_or_404(Bundle, bundle_id)
    template = "_bundle.html" if htmx else "bundle.html"
    return render_template(template, bundle=bundle)


@bp.get("/shots/<shot_id>")
def shot(shot_id):
    shot = db.get_or_404(Shot, shot_id)
    return render_template("shot.html", shot=shot)


@bp.app_errorhandler(404)
def not_found(_exc):
    if request.path.startswith("/api/"):
        return {"error": "Not found."}, 404
    return render_template("error.html", message="There is nothing at this address."), 404
