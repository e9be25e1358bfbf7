"""Who may see what: with SHOOTFLOW_AUTH=on, sign-in for pages, bearer tokens for the API,
every bundle, shot and image visible to its owner only, and /ops to operators."""
import hmac
from urllib.parse import urlsplit

from flask import (Blueprint, abort, current_app, g, jsonify, redirect, render_template,
                   request, url_for)
from flask_login import LoginManager, current_user, login_user, logout_user

from ..accounts import authenticate, user_for_token
from ..extensions import db
from ..models import Bundle, User, Watch, new_session_secret
from ..ratelimit import LoginThrottle, storage_uri

bp = Blueprint("access", __name__)
login_manager = LoginManager()
OPEN_ENDPOINTS = {"access.login", "static"}
THROTTLE = "shootflow.login_throttle"


def auth_on():
    return current_app.config["AUTH"]


def owner_id():
    """The signed-in user's id, or None when auth is off."""
    user = g.get("user")
    return user.id if user is not None else None


def by_token():
    """True when the request was signed in with an API token, not the session cookie."""
    return g.get("by_token", False)


def may_operate():
    """Whether the requester may see every user's running work (/ops, Flower's link)."""
    if not auth_on():
        return True  # one person on one machine
    user = g.get("user")
    return user is not None and user.is_operator


def visible(model, row_id):
    """The row if it exists and (with auth on) belongs to the requester, else None."""
    row = db.session.get(model, row_id)
    if row is None or not auth_on():
        return row
    owner = row if isinstance(row, (Bundle, Watch)) else row.bundle
    return row if owner.owner_id == owner_id() else None


def visible_or_404(model, row_id):
    row = visible(model, row_id)
    if row is None:
        abort(404)
    return row


def owned(query, model=Bundle):
    """Limit a query of Bundles (or Watches) to the requester's when auth is on."""
    return query.where(model.owner_id == owner_id()) if auth_on() else query


@login_manager.user_loader
def _load_user(session_id):
    """The user a session cookie names, if its secret is still theirs (see User.get_id)."""
    user_id, _, secret = session_id.partition(":")
    user = db.session.get(User, int(user_id)) if user_id.isdigit() else None
    if user is None or not hmac.compare_digest(user.session_secret.encode(), secret.encode()):
        return None
    return user


def _bearer_token():
    """The token of an 'Authorization: Bearer' header, '' for an empty one, else None."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _guard():
    g.user, g.by_token = None, False
    if not auth_on() or request.endpoint in OPEN_ENDPOINTS:
        return None
    token = _bearer_token()
    if token is not None:  # a token that does not work never falls back to the cookie
        g.user, g.by_token = (user_for_token(token) if token else None), True
    elif current_user.is_authenticated:
        g.user = current_user
    if g.user is not None:
        return None
    if request.path.startswith("/api/"):
        return jsonify({"error": "Sign in with an API token: send 'Authorization: Bearer "
                                 "<token>' (create one with `flask users token NAME`)."}), 401
    return redirect(url_for("access.login", next=request.full_path.rstrip("?")))


def _safe_next(target):
    parts = urlsplit(target or "")
    return target if target and not parts.scheme and not parts.netloc \
        and target.startswith("/") else url_for("pages.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("login.html", error=None)
    username, password = request.form.get("username", ""), request.form.get("password", "")
    throttle = current_app.extensions[THROTTLE]
    wait = throttle.retry_after(username, request.remote_addr)
    if wait:
        error = (f"Too many failed sign-ins for this name or from this address. "
                 f"Try again in {wait} seconds.")
        return render_template("login.html", error=error), 429, {"Retry-After": str(wait)}
    user = authenticate(username, password)
    if user is None:
        throttle.failed(username, request.remote_addr)
        return render_template("login.html",
                               error="That username and password do not match."), 401
    login_user(user)
    return redirect(_safe_next(request.args.get("next")), 303)


@bp.post("/logout")
def logout():
    """Sign out, and end every copy of this session: a cookie taken from this browser (or
    another signed-in one) stops working too."""
    if current_user.is_authenticated:
        current_user.session_secret = new_session_secret()
        db.session.commit()
    logout_user()
    return redirect(url_for("access.login"), 303)


def register_access(app):
    login_manager.init_app(app)
    config = app.config
    app.extensions[THROTTLE] = LoginThrottle(
        storage_uri(config), config["LOGIN_TRIES_PER_USER"],
        config["LOGIN_TRIES_PER_ADDRESS"], config["LOGIN_WINDOW"])
    app.register_blueprint(bp)
    app.before_request(_guard)
    app.context_processor(lambda: {"may_operate": may_operate()})
