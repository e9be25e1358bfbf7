"""Bundles and their shots: the rows that hold the truth about captures.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-27 03:56:36.151925

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('bundle',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('bundle', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bundle_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_bundle_state'), ['state'], unique=False)

    op.create_table('shot',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('bundle_id', sa.String(length=32), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('title', sa.Text(), nullable=True),
    sa.Column('final_url', sa.Text(), nullable=True),
    sa.Column('http_status', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('image_path', sa.String(length=255), nullable=True),
    sa.Column('thumbnail_path', sa.String(length=255), nullable=True),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('image_bytes', sa.Integer(), nullable=True),
    sa.Column('task_id', sa.String(length=64), nullable=True),
    sa.Column('queued_at', sa.DateTime(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('captured_at', sa.DateTime(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('capture_ms', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['bundle_id'], ['bundle.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('shot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shot_bundle_id'), ['bundle_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_shot_state'), ['state'], unique=False)



def downgrade():
    with op.batch_alter_table('shot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shot_state'))
        batch_op.drop_index(batch_op.f('ix_shot_bundle_id'))

    op.drop_table('shot')
    with op.batch_alter_table('bundle', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bundle_state'))
        batch_op.drop_index(batch_op.f('ix_bundle_created_at'))

    op.drop_table('bundle')
