"""Capture options (a bundle's, and each shot's own overrides) and what a capture finds out.

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("bundle", schema=None) as batch_op:
        batch_op.add_column(sa.Column("options", sa.JSON(), nullable=True))
    with op.batch_alter_table("shot", schema=None) as batch_op:
        batch_op.add_column(sa.Column("options", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("format", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("truncated", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("facts", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("error_kind", sa.String(length=16), nullable=True))


def downgrade():
    with op.batch_alter_table("shot", schema=None) as batch_op:
        for column in ("error_kind", "facts", "sha256", "truncated", "format", "options"):
            batch_op.drop_column(column)
    with op.batch_alter_table("bundle", schema=None) as batch_op:
        batch_op.drop_column("options")
