"""The web layer: pages for people, a JSON API for scripts, and the image files."""


def register_web(app):
    from .api import bp as api_bp
    from .media import bp as media_bp
    from .pages import bp as pages_bp

    app.register_blueprint(pages_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(media_bp)
