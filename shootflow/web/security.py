"""Browser-side protections: trusted host names, CSRF tokens on every form and on the API's
cookie-signed requests, and security headers on every answer."""
from urllib.parse import urlsplit

from flask import current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError, validate_csrf
from wtforms.validators import ValidationError

from ..extensions import csrf
from .access import auth_on, by_token

# htmx needs no inline script or style (its indicator styles are turned off in base.html),
# so the policy can forbid both; frame-ancestors keeps pages out of other sites' frames.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "img-src 'self' data:",
    "style-src 'self'",
    "script-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _api_error(message, status):
    return jsonify({"error": message}), status


def _host_name(host):
    """The name in a host:port value ('[::1]' keeps its brackets); '' when malformed."""
    return host[:host.find("]") + 1] if host.startswith("[") else host.partition(":")[0]


def _host_trusted(name, trusted):
    return any(name == host or (host.startswith(".") and (name.endswith(host)
                                                         or name == host[1:]))
               for host in trusted)


def check_host():
    """Answer only to the configured host names: a page of another name that resolves to
    this machine (DNS rebinding) must not get its answers."""
    trusted = current_app.config["ALLOWED_HOSTS"]
    name = _host_name(request.host.lower())  # Werkzeug gives '' for a malformed Host
    if trusted is None or (name and _host_trusted(name, trusted)):
        return None
    message = (f"This server does not answer to the host name {name or request.host!r}. "
               "If it should, add the name to SHOOTFLOW_TRUSTED_HOSTS.")
    if request.path.startswith("/api/"):
        return _api_error(message, 400)
    return message, 400, {"Content-Type": "text/plain; charset=utf-8"}


def _cross_site():
    """True when the browser says the request comes from another site (or another port)."""
    if request.headers.get("Sec-Fetch-Site") in ("cross-site", "same-site"):
        return True
    origin = request.headers.get("Origin")
    return origin is not None and urlsplit(origin).netloc.lower() != request.host.lower()


def check_api_request(api_names):
    """An API request that changes something must come from its own client, not from a page
    of another site riding on the browser's cookies. Runs after access's guard."""
    if request.blueprint not in api_names or request.method in SAFE_METHODS or by_token():
        return None  # a bearer token is something no other site can send
    if auth_on():
        # Signed in by the session cookie, which the browser adds to any site's request.
        try:
            validate_csrf(request.headers.get("X-CSRFToken"))
        except ValidationError:
            return _api_error(
                "A request signed in with the browser's session must send the page's CSRF "
                "token in an X-CSRFToken header. Scripts should send an API token instead "
                "(Authorization: Bearer <token>, from `flask users token NAME`).", 403)
        return None
    if _cross_site():
        return _api_error("Requests from other sites may not change anything here. Call the "
                          "API from a script or from shootflow's own pages.", 403)
    if request.mimetype and not request.is_json:
        # A page of another site can send a form or text/plain without asking the browser
        # first, never JSON; a script sends JSON, or nothing (curl -X POST .../cancel).
        return _api_error("Requests that change something must send a JSON object with "
                          "Content-Type: application/json, or no body at all.", 400)
    return None


def register_security(app, *api_blueprints):
    csrf.init_app(app)
    for blueprint in api_blueprints:
        csrf.exempt(blueprint)  # checked by check_api_request, which answers in JSON
    # Before every other check, so that a foreign host name is not even sent to sign in.
    app.before_request_funcs.setdefault(None, []).insert(0, check_host)
    names = frozenset(blueprint.name for blueprint in api_blueprints)
    app.before_request(lambda: check_api_request(names))

    @app.after_request
    def add_security_headers(response):
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.errorhandler(CSRFError)
    def csrf_failed(_exc):
        message = ("This form has expired or did not come from shootflow. "
                   "Reload the page and try again.")
        if request.headers.get("HX-Request"):
            return message, 400
        return render_template("error.html", title="Form expired", message=message), 400
