"""Who may see what: with SHOOTFLOW_AUTH=on, sign-in for pages, bearer tokens for the API,
and every bundle, shot and image visible to its owner only."""
from urllib.parse import urlsplit

from flask import (Blueprint, abort, current_app, g, jsonify, redirect, render_template,
                   request, url_for)
from flask_login import LoginManager, current_user, login_user, logout_user

from ..accounts import authenticate, user_for_token
from ..extensions import db
from ..models import Bundle, Shot, User

bp = Blueprint("access", __name__)
login_manager = LoginManager()
OPEN_ENDPOINTS = {"access.login", "static"}


def auth_on():
    return current_app.config["AUTH"]


def owner_id():
    """The signed-in user's id, or None when auth is off."""
    user = g.get("user")
    return user.id if user is not None else None


def visible(model, row_id):
    """The row if it exists and (with auth on) belongs to the requester, else None."""
    row = db.session.get(model, row_id)
    if row is None or not auth_on():
        return row
    bundle = row if isinstance(row, Bundle) else row.bundle
    return row if bundle.owner_id == owner_id() else None


def visible_or_404(model, row_id):
    row = visible(model, row_id)
    if row is None:
        abort(404)
    return row


def owned(query):
    """Limit a Bundle query to the requester's bundles when auth is on."""
    return query.where(Bundle.owner_id == owner_id()) if auth_on() else query


@login_manager.user_loader
def _load_user(user_id):
    return db.session.get(User, int(user_id)) if user_id.isdigit() else None


def _bearer_user():
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return user_for_token(token.strip()) if scheme.lower() == "bearer" and token else None


def _guard():
    g.user = None
    if not auth_on() or request.endpoint in OPEN_ENDPOINTS:
        return None
    g.user = _bearer_user() or (current_user if current_user.is_authenticated else None)
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
    error = None
    if request.method == "POST":
        user = authenticate(request.form.get("username", ""), request.form.get("password", ""))
        if user is not None:
            login_user(user)
            return redirect(_safe_next(request.args.get("next")), 303)
        error = "That username and password do not match."
    return render_template("login.html", error=error), 401 if error else 200


@bp.post("/logout")
def logout():
    logout_user()
    return redirect(url_for("access.login"), 303)


def register_access(app):
    login_manager.init_app(app)
    app.register_blueprint(bp)
    app.before_request(_guard)
