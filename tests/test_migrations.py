"""Migrations on a database that already has rows, as a user's upgrade meets it."""
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from shootflow import create_app
from shootflow.config import database_url
from shootflow.extensions import db


def test_upgrade_and_downgrade_keep_existing_rows(new_database, test_env):
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url(new_database("old"))})
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
        stamped = db.session.execute(text("SELECT updated_at FROM shot")).scalar()
        assert str(stamped).startswith("2026-01-01")  # the last change known: when it was queued
        assert db.session.execute(text("SELECT bundle_id FROM shot")).scalar() == "b1"
        if db.engine.dialect.name == "sqlite":  # tables rebuilt by batch mode keep their keys
            assert db.session.execute(text("PRAGMA foreign_key_check")).all() == []
        db.session.rollback()  # end the reads: an open one would hold up ALTER TABLE

        downgrade(revision="0001")
        assert db.session.execute(text("SELECT id FROM bundle")).scalar() == "b1"
        db.session.remove()
        db.engine.dispose()


def test_migrations_build_exactly_the_models(new_database, test_env):
    """A model change without its migration (or the reverse) fails here, not in production."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url(new_database("new"))})
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), db.metadata)
        db.engine.dispose()
    assert differences == []
