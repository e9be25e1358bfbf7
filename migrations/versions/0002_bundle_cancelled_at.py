"""A bundle remembers when it was cancelled, so it ends `cancelled` rather than by its shots.

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("bundle", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cancelled_at", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("bundle", schema=None) as batch_op:
        batch_op.drop_column("cancelled_at")
