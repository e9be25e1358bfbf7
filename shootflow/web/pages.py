"""Pages for people: the paste form, a bundle filling in, one shot in full."""
from flask import Blueprint, flash, redirect, render_template, request, url_for

from ..extensions import db, htmx
from ..models import Bundle, Shot
from ..urls import URLError
from .access import owned, owner_id, visible_or_404
from .controls import Conflict, cancel_bundle, cancel_shot, retry_failed
from .submission import BrokerUnavailable, RateLimited, submit_bundle

bp = Blueprint("pages", __name__)
RECENT_BUNDLES = 20


def _home(urls_text="", error=None, status=200):
    recent = db.session.scalars(
        owned(db.select(Bundle)).order_by(Bundle.created_at.desc()).limit(RECENT_BUNDLES)).all()
    return render_template("index.html", recent=recent, urls_text=urls_text,
                           error=error), status


@bp.get("/")
def index():
    return _home()


@bp.post("/bundles")
def create():
    urls_text = request.form.get("urls", "")
    try:
        bundle = submit_bundle(urls_text.splitlines(), request.remote_addr, owner_id())
    except URLError as exc:
        return _home(urls_text, str(exc), 400)
    except RateLimited as exc:
        return _home(urls_text, str(exc), 429)
    except BrokerUnavailable as exc:
        return _home(urls_text, str(exc), 503)
    return redirect(url_for("pages.bundle", bundle_id=bundle.id), 303)


@bp.get("/bundles/<bundle_id>")
def bundle(bundle_id):
    bundle = visible_or_404(Bundle, bundle_id)
    template = "_bundle.html" if htmx else "bundle.html"
    return render_template(template, bundle=bundle)


def _act(bundle, action, row):
    """Run a cancel/retry action, then show the bundle again (the partial for htmx)."""
    try:
        action(row)
    except (Conflict, BrokerUnavailable) as exc:
        flash(str(exc))
    if htmx:
        return render_template("_bundle.html", bundle=bundle)
    return redirect(url_for("pages.bundle", bundle_id=bundle.id), 303)


@bp.post("/bundles/<bundle_id>/cancel")
def cancel(bundle_id):
    bundle = visible_or_404(Bundle, bundle_id)
    return _act(bundle, cancel_bundle, bundle)


@bp.post("/bundles/<bundle_id>/retry")
def retry(bundle_id):
    bundle = visible_or_404(Bundle, bundle_id)
    return _act(bundle, retry_failed, bundle)


@bp.post("/shots/<shot_id>/cancel")
def cancel_one(shot_id):
    shot = visible_or_404(Shot, shot_id)
    return _act(shot.bundle, cancel_shot, shot)


@bp.get("/shots/<shot_id>")
def shot(shot_id):
    shot = visible_or_404(Shot, shot_id)
    return render_template("shot.html", shot=shot)


@bp.app_errorhandler(404)
def not_found(_exc):
    if request.path.startswith("/api/"):
        return {"error": "Not found."}, 404
    return render_template("error.html", message="There is nothing at this address."), 404
