"""Users, API tokens, and an owner for each bundle (used when SHOOTFLOW_AUTH=on).

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.create_index("ix_api_token_user_id", ["user_id"], unique=False)
    with op.batch_alter_table("bundle", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_bundle_owner_id", ["owner_id"], unique=False)
        batch_op.create_foreign_key("fk_bundle_owner_id_user", "user", ["owner_id"], ["id"])


def downgrade():
    with op.batch_alter_table("bundle", schema=None) as batch_op:
        batch_op.drop_constraint("fk_bundle_owner_id_user", type_="foreignkey")
        batch_op.drop_index("ix_bundle_owner_id")
        batch_op.drop_column("owner_id")
    op.drop_table("api_token")
    op.drop_table("user")
