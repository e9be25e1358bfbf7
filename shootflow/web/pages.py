"""Pages for people: the paste form, a bundle filling in, one shot in full."""
from datetime import datetime, timedelta, timezone

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for

from ..extensions import db, htmx
from ..models import Bundle, Shot, utcnow
from ..urls import URLError
from .access import owned, owner_id, visible_or_404
from .controls import Conflict, cancel_bundle, cancel_shot, retry_failed
from .submission import BrokerUnavailable, RateLimited, submit_bundle

bp = Blueprint("pages", __name__)
RECENT_BUNDLES = 20
POLL_OVERLAP = timedelta(seconds=10)


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


def _show(bundle, template, **context):
    """Render the bundle with its progress and the address of its next poll."""
    # The next poll asks for every card changed since a little before now: a change
    # committed late, or stamped by a machine whose clock is a little behind, still arrives.
    poll_since = (utcnow() - POLL_OVERLAP).isoformat(timespec="microseconds")
    return render_template(template, bundle=bundle, progress=bundle.progress(),
                           poll_since=poll_since, **context)


@bp.get("/bundles/<bundle_id>")
def bundle(bundle_id):
    bundle = visible_or_404(Bundle, bundle_id)
    if not htmx:
        return _show(bundle, "bundle.html")
    since = request.args.get("since")
    if since is None:
        return _show(bundle, "_bundle.html")
    try:
        since = datetime.fromisoformat(since)
    except ValueError:
        return Response("since must be a UTC time such as 2026-01-31T12:00:00.000000.\n",
                        400, mimetype="text/plain")
    if since.tzinfo is not None:
        since = since.astimezone(timezone.utc).replace(tzinfo=None)
    changed = db.session.scalars(db.select(Shot).where(
        Shot.bundle_id == bundle.id, Shot.updated_at >= since).order_by(Shot.position)).all()
    return _show(bundle, "_bundle_poll.html", changed=changed)


def _act(bundle, action, row):
    """Run a cancel/retry action, then show the bundle again (the partial for htmx)."""
    try:
        action(row)
    except (Conflict, BrokerUnavailable) as exc:
        flash(str(exc))
    if htmx:
        return _show(bundle, "_bundle.html")
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
