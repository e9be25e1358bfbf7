"""Browser-side protections: CSRF tokens on every form and security headers on every answer."""
from flask import render_template, request
from flask_wtf.csrf import CSRFError

from ..extensions import csrf

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


def register_security(app, api_blueprint):
    csrf.init_app(app)
    csrf.exempt(api_blueprint)  # JSON only; a cross-site form cannot send application/json

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
