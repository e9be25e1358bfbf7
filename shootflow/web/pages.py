"""Pages for people: the paste form, a bundle filling in, one shot in full."""
import json
from datetime import datetime, timedelta, timezone

from flask import (Blueprint, Response, current_app, flash, redirect, render_template, request,
                   url_for)
from sqlalchemy import func

from ..capture.options import FORMATS, PRESETS, CaptureOptions
from ..extensions import db, htmx
from ..history import CursorError, find_bundles, previews
from ..lifecycle import options_for
from ..models import Bundle, BundleState, Shot, utcnow
from ..services import (BadInput, ServiceError, cancel_bundle, cancel_shot, retry_failed,
                        submit_bundle)
from .access import owned, owner_id, visible_or_404
from .media import image_url

bp = Blueprint("pages", __name__)
RECENT_BUNDLES = 20
MAX_SEARCH = 200
POLL_OVERLAP = timedelta(seconds=3)
# A long bundle shows this many cards first and loads more as the person scrolls, so the
# page and its polls cost the same for 10 shots or 10,000.
CARDS_PER_LOAD = 50


class BadQuery(ValueError):
    """A bundle page address with a query value it cannot use; nothing is written."""


VIEWPORT_CHOICES = [(name, f"{name} ({viewport.text})") for name, viewport in PRESETS.items()]


def _form_options(form):
    """The options the home page's form sets, as the API would send them (defaults left out)."""
    raw = {}
    if form.get("viewport", "desktop") != "desktop":
        raw["viewport"] = form["viewport"]
    if form.get("format", "png") != "png":
        raw["format"] = form["format"]
    for flag in ("full_page", "dark_mode", "hide_banners"):
        if form.get(flag):
            raw[flag] = True
    delay = form.get("delay", "").strip()
    if delay:
        try:
            raw["delay"] = float(delay)
        except ValueError:
            raise BadInput('Option "delay" (Wait) must be a number of seconds from 0 to 30.') \
                from None
    return raw


def _home(urls_text="", error=None, status=200, form=None):
    recent = db.session.scalars(
        owned(db.select(Bundle)).order_by(Bundle.created_at.desc()).limit(RECENT_BUNDLES)).all()
    # Two small queries for the list, never the shots themselves (a 1,000-URL bundle
    # would otherwise load 1,000 rows for one line of the home page).
    ids = [bundle.id for bundle in recent]
    sizes = dict(db.session.execute(db.select(Shot.bundle_id, func.count()).where(
        Shot.bundle_id.in_(ids)).group_by(Shot.bundle_id)).all())
    first_urls = dict(db.session.execute(db.select(Shot.bundle_id, Shot.url).where(
        Shot.bundle_id.in_(ids), Shot.position == 0)).all())
    return render_template("index.html", recent=recent, sizes=sizes, first_urls=first_urls,
                           urls_text=urls_text, error=error, form=form or {},
                           viewports=VIEWPORT_CHOICES, formats=FORMATS), status


@bp.get("/")
def index():
    return _home()


HISTORY_PAGE = 25


@bp.get("/history")
def history():
    """Every bundle, newest first, a page at a time; searched by URL or title, kept to one
    state. Each with its shots counted per state (one grouped query for the page)."""
    q = request.args.get("q", "").strip()
    state = request.args.get("state", "") or None
    error = None
    if state is not None and state not in set(BundleState):
        error = f"There is no bundle state {state!r}: choose one of the list."
    elif len(q) > MAX_SEARCH:
        error = f"Search for at most {MAX_SEARCH} characters."
    elif "\x00" in q:  # as the API's BundleQuery: PostgreSQL's text refuses it
        error = "Search text cannot contain NUL characters."
    page, after = [], None
    if error is None:
        try:
            page, after = find_bundles(owned(db.select(Bundle)), state=state, q=q or None,
                                       cursor=request.args.get("cursor") or None,
                                       limit=HISTORY_PAGE)
        except CursorError as exc:
            error = str(exc)
    shown = previews([bundle.id for bundle, _ in page])
    return render_template("history.html", page=page, shown=shown, after=after, q=q,
                           state=state, states=list(BundleState), error=error,
                           first=not request.args.get("cursor")), 400 if error else 200


@bp.post("/bundles")
def create():
    urls_text = request.form.get("urls", "")
    try:
        bundle = submit_bundle(urls_text.splitlines(), request.remote_addr, owner_id(),
                               _form_options(request.form))
    except ServiceError as exc:
        return _home(urls_text, str(exc), exc.status, request.form)
    return redirect(url_for("pages.bundle", bundle_id=bundle.id), 303)


def _show(bundle, template, **context):
    """Render the bundle with its progress and the address of its next poll."""
    # The next poll asks for every card changed since a little before now, so a change
    # committed late, or stamped by a machine whose clock is a little behind, still
    # arrives; the poll that finds the bundle finished sends every card shown once more.
    poll_since = (utcnow() - POLL_OVERLAP).isoformat(timespec="microseconds")
    return render_template(template, bundle=bundle, progress=bundle.progress(),
                           poll_since=poll_since, **context)


def _cards(bundle, after=-1, everything=False):
    """Template context for the cards after a position: the cards, the position to load
    more after (None: no more), and the last position then on the page (upto)."""
    query = db.select(Shot).where(Shot.bundle_id == bundle.id, Shot.position > after)
    query = query.order_by(Shot.position)
    if not everything:
        query = query.limit(CARDS_PER_LOAD + 1)
    cards = db.session.scalars(query).all()
    more = not everything and len(cards) > CARDS_PER_LOAD
    cards = cards[:CARDS_PER_LOAD] if more else cards
    return {"cards": cards, "more_after": cards[-1].position if more else None,
            "upto": cards[-1].position if cards else after}


def _show_section(bundle, template="_bundle.html", all_cards=False):
    return _show(bundle, template, **_cards(bundle, everything=all_cards))


def _position(name, default=None):
    """A card position from the query string: a whole number, -1 for before the first."""
    value = request.args.get(name)
    if value is None and default is not None:
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or number < -1:
        raise BadQuery(f"{name} must be a whole number of -1 or more.")
    return number


def _since():
    try:
        since = datetime.fromisoformat(request.args.get("since", ""))
    except ValueError:
        raise BadQuery("since must be a UTC time such as 2026-01-31T12:00:00.000000.") \
            from None
    if since.tzinfo is not None:
        since = since.astimezone(timezone.utc).replace(tzinfo=None)
    return since


@bp.errorhandler(BadQuery)
def bad_query(exc):
    return Response(f"{exc}\n", 400, mimetype="text/plain")


@bp.get("/bundles/<bundle_id>")
def bundle(bundle_id):
    """The bundle page; for htmx, its section, or (with since) what its poll needs."""
    bundle = visible_or_404(Bundle, bundle_id)
    if not htmx:
        return _show_section(bundle, "bundle.html", all_cards="all" in request.args)
    if "since" not in request.args:
        return _show_section(bundle)
    since, upto = _since(), _position("upto", default=CARDS_PER_LOAD - 1)  # as first shown
    query = db.select(Shot).where(Shot.bundle_id == bundle.id, Shot.position <= upto)
    if not bundle.finished:  # the last poll sends every card shown, whatever the clocks said
        query = query.where(Shot.updated_at >= since)
    changed = db.session.scalars(query.order_by(Shot.position)).all()
    return _show(bundle, "_bundle_poll.html", changed=changed)


@bp.get("/bundles/<bundle_id>/cards")
def cards(bundle_id):
    """The next cards of a long bundle, loaded as the person scrolls to them."""
    bundle = visible_or_404(Bundle, bundle_id)
    return render_template("_cards_more.html", bundle=bundle, progress=bundle.progress(),
                           **_cards(bundle, _position("after")))


def _act(bundle, action, row, show_htmx=_show_section):
    """Run a cancel/retry action, then show the bundle again (show_htmx(bundle) for htmx)."""
    try:
        action(row)
    except ServiceError as exc:
        flash(str(exc))
    if htmx:
        return show_htmx(bundle)
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
    """Cancel one shot; for htmx, that card and the status again (the list stays put)."""
    shot = visible_or_404(Shot, shot_id)
    return _act(shot.bundle, cancel_shot, shot,
                lambda bundle: _show(bundle, "_card_cancelled.html", shot=shot))


@bp.get("/shots/<shot_id>")
def shot(shot_id):
    shot = visible_or_404(Shot, shot_id)
    used = options_for(shot, current_app.config).to_json()
    plain = CaptureOptions().to_json()
    # What this shot was taken with: its viewport and format, and whatever else is not
    # the default.
    options = {key: value for key, value in used.items()
               if key in ("viewport", "format") or value != plain.get(key)}
    return render_template("shot.html", shot=shot, options=options, facts=shot.facts or {},
                           image_url=image_url(shot) if shot.image_path else None)


@bp.app_template_filter("options_text")
def options_text(options):
    """Options as a person reads them: name value · name value (long values cut)."""
    parts = []
    for key, value in (options or {}).items():
        text = value if isinstance(value, str) else json.dumps(value)
        parts.append(f"{key} {text if len(text) <= 60 else text[:57] + '…'}")
    return " · ".join(parts)


@bp.app_errorhandler(404)
def not_found(_exc):
    if request.path.startswith("/api/"):
        return {"error": "Not found."}, 404
    return render_template("error.html", message="There is nothing at this address."), 404
