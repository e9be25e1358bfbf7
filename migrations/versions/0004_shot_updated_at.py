"""When each shot last changed, so the bundle page can poll for changed cards only.

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("shot", schema=None) as batch_op:
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE shot SET updated_at = "
               "COALESCE(finished_at, captured_at, started_at, queued_at)")
    with op.batch_alter_table("shot", schema=None) as batch_op:
        batch_op.alter_column("updated_at", existing_type=sa.DateTime(), nullable=False)
        batch_op.create_index("ix_shot_bundle_id_updated_at", ["bundle_id", "updated_at"],
                              unique=False)


def downgrade():
    with op.batch_alter_table("shot", schema=None) as batch_op:
        batch_op.drop_index("ix_shot_bundle_id_updated_at")
        batch_op.drop_column("updated_at")
