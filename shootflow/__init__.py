"""shootflow: paste URLs, watch real screenshots fill in."""
import logging
from pathlib import Path

# Flask, SQLAlchemy and Celery are imported by create_app, not here: the `shootflow` command
# line (shootflow.client) only talks HTTP, and starts in a fraction of the time without them.


def _sqlite_pragmas(dbapi_connection, _record):
    """WAL lets workers write while the web app reads; busy_timeout waits out short locks."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # With WAL this loses no committed row when a process dies, only when the machine does
    # (fsync at checkpoints instead of every commit; a shot commits four or five times).
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_app(config=None):
    """Build the Flask app; config is a Config instance or a mapping of overrides."""
    from flask import Flask
    from sqlalchemy import event

    from .celery_app import celery_init_app
    from .config import BASE_DIR, Config, secret_key
    from .extensions import db, htmx, migrate

    app = Flask(__name__, template_folder=str(BASE_DIR / "templates"))
    app.config.from_object(Config())
    if config:
        app.config.update(config if isinstance(config, dict) else vars(config))
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app.instance_path = app.config["INSTANCE_DIR"]
    # Whatever the database: the workers' state files and beat's schedule live here too.
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config["SECRET_KEY"]:
        # Never a known key: anyone holding it could sign a session cookie for any user.
        app.config["SECRET_KEY"] = secret_key(app.instance_path)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"))
    htmx.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _sqlite_pragmas)
    celery_init_app(app)

    from .cli import users
    from .web import register_web
    register_web(app)
    app.cli.add_command(users)
    from . import monitoring, workflows  # noqa: F401  registers tasks and signal handlers
    return app
