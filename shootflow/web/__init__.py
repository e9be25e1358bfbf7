"""The web layer: pages for people, a JSON API for scripts, and the image files."""


def register_web(app):
    from .access import register_access
    from .api import bp as api_bp
    from .exports import bp as exports_bp
    from .media import bp as media_bp
    from .ops import bp as ops_bp
    from .pages import bp as pages_bp
    from .security import register_security
    from .watch_pages import bp as watch_pages_bp
    from .watches import bp as watches_bp

    register_access(app)
    app.register_blueprint(pages_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(exports_bp)
    app.register_blueprint(media_bp)
    app.register_blueprint(ops_bp)
    app.register_blueprint(watches_bp)
    app.register_blueprint(watch_pages_bp)
    register_security(app, api_bp, exports_bp, watches_bp)
