"""Watch runs record when they were scored and against which capture, so runs that finish
out of order are compared in slot order (the tick scores those left waiting).

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("watch_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scored_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("previous_shot_id", sa.String(length=32), nullable=True))
        batch_op.create_index("ix_watch_run_scored_at", ["scored_at"])
    # Runs made before this were scored (or left "not compared") when they were processed.
    op.execute("UPDATE watch_run SET scored_at = created_at")


def downgrade():
    with op.batch_alter_table("watch_run", schema=None) as batch_op:
        batch_op.drop_index("ix_watch_run_scored_at")
        batch_op.drop_column("previous_shot_id")
        batch_op.drop_column("scored_at")
