"""Webhooks: a bundle's address to tell when it finishes, and the deliveries to make.

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("bundle", schema=None) as batch_op:
        batch_op.add_column(sa.Column("webhook_url", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("webhook_secret", sa.String(length=64), nullable=True))
    op.create_table(
        "webhook_delivery",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("watch_id", sa.String(length=32), sa.ForeignKey("watch.id"), nullable=True),
        sa.Column("bundle_id", sa.String(length=32), sa.ForeignKey("bundle.id"), nullable=True),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_webhook_delivery_watch_id", "webhook_delivery", ["watch_id"])
    op.create_index("ix_webhook_delivery_state", "webhook_delivery", ["state"])
    op.create_index("ix_webhook_delivery_next_attempt_at", "webhook_delivery",
                    ["next_attempt_at"])


def downgrade():
    op.drop_table("webhook_delivery")
    with op.batch_alter_table("bundle", schema=None) as batch_op:
        batch_op.drop_column("webhook_secret")
        batch_op.drop_column("webhook_url")
