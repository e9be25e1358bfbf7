"""Migrations on a database that already has rows, as a user's upgrade meets it."""
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from shootflow import create_app
from shootflow.extensions import db


def test_upgrade_and_downgrade_keep_existing_rows(tmp_path, test_env):
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'old.db'}"})
    with app.app_context():
        upgrade(revision="0001")
        db.session.execute(text(
            "INSERT INTO bundle VALUES ('b1', 'done', '2026-01-01', '2026-01-01')"))
        db.session.execute(text(
            "INSERT INTO shot (id, bundle_id, position, url, state, queued_at) "
            "VALUES ('s1', 'b1', 0, 'https://example.com/', 'done', '2026-01-01')"))
        db.session.commit()

        upgrade()
        row = db.session.execute(text("SELECT id, state, owner_id, cancelled_at FROM bundle"))
        assert row.all() == [("b1", "done", None, None)]
        assert db.session.execute(text("SELECT bundle_id FROM shot")).scalar() == "b1"
        assert db.session.execute(text("PRAGMA foreign_key_check")).all() == []

        downgrade(revision="0001")
        assert db.session.execute(text("SELECT id FROM bundle")).scalar() == "b1"
        db.session.remove()
        db.engine.dispose()
