"""What the rows need to send work again when the broker loses it: when each shot was last
sent, how often a capture process took it, and the capturing process's heartbeat.

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("shot", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dispatched_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False,
                                      server_default="0"))
        batch_op.add_column(sa.Column("heartbeat_at", sa.DateTime(), nullable=True))
    # Existing unfinished shots were sent the old way: count them as sent now.
    op.execute("UPDATE shot SET dispatched_at = queued_at WHERE state IN ('queued', 'running')")


def downgrade():
    with op.batch_alter_table("shot", schema=None) as batch_op:
        batch_op.drop_column("heartbeat_at")
        batch_op.drop_column("attempts")
        batch_op.drop_column("dispatched_at")
