"""Watches: URLs captured on a schedule, and their runs, one per (watch, slot).

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "watch",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("owner_id", sa.Integer(), sa.ForeignKey("user.id"), nullable=True),
        sa.Column("client", sa.String(length=64), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("schedule", sa.String(length=100), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("options", sa.JSON(), nullable=True),
        sa.Column("threshold", sa.Double(), nullable=False),
        sa.Column("ignore", sa.JSON(), nullable=True),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("paused", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("next_run_at", sa.DateTime(), nullable=True),
        sa.Column("last_run_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_watch_owner_id", "watch", ["owner_id"])
    op.create_index("ix_watch_next_run_at", "watch", ["next_run_at"])
    op.create_table(
        "watch_run",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("watch_id", sa.String(length=32), sa.ForeignKey("watch.id"), nullable=False),
        sa.Column("slot", sa.DateTime(), nullable=False),
        sa.Column("bundle_id", sa.String(length=32), sa.ForeignKey("bundle.id"), nullable=True),
        sa.Column("change", sa.Double(), nullable=True),
        sa.Column("changed", sa.Boolean(), nullable=True),
        sa.Column("diff_path", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("watch_id", "slot", name="uq_watch_run_slot"),
    )
    op.create_index("ix_watch_run_watch_id", "watch_run", ["watch_id"])
    with op.batch_alter_table("bundle", schema=None) as batch_op:
        batch_op.add_column(sa.Column("watch_id", sa.String(length=32), nullable=True))
        batch_op.create_index("ix_bundle_watch_id", ["watch_id"], unique=False)
        batch_op.create_foreign_key("fk_bundle_watch_id", "watch", ["watch_id"], ["id"])


def downgrade():
    with op.batch_alter_table("bundle", schema=None) as batch_op:
        batch_op.drop_constraint("fk_bundle_watch_id", type_="foreignkey")
        batch_op.drop_index("ix_bundle_watch_id")
        batch_op.drop_column("watch_id")
    op.drop_index("ix_watch_run_watch_id", "watch_run")
    op.drop_table("watch_run")
    op.drop_index("ix_watch_next_run_at", "watch")
    op.drop_index("ix_watch_owner_id", "watch")
    op.drop_table("watch")
