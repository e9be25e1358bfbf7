"""Operators (who may see /ops), and a per-user secret in session cookies that a password
change replaces, ending the sessions signed in with the old password.

Revision ID: 0005
Revises: 0004
"""
import secrets

from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("is_operator", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column("session_secret", sa.String(length=32), nullable=True))
    # Each user gets their own random secret (in Python: the SQL for it differs by database).
    # Sessions from before the upgrade carry no secret and so end: everyone signs in again.
    connection = op.get_bind()
    user = sa.table("user", sa.column("id", sa.Integer), sa.column("session_secret", sa.String))
    for (user_id,) in connection.execute(sa.select(user.c.id)).all():
        connection.execute(user.update().where(user.c.id == user_id)
                           .values(session_secret=secrets.token_hex(16)))
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.alter_column("session_secret", existing_type=sa.String(length=32),
                              nullable=False)


def downgrade():
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("session_secret")
        batch_op.drop_column("is_operator")
