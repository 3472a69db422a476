"""channel control: distributors (territory as JSON), distributor user links, API keys

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 22:05:40.344026
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "distributors",
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.Column("contact", sa.JSON(), nullable=False),
        sa.Column("territory", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "level IN ('national', 'regional', 'retailer')",
            name=op.f("ck_distributors_level_known"),
        ),
        sa.CheckConstraint(
            "parent_id IS NULL OR parent_id <> id", name=op.f("ck_distributors_not_own_parent")
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_distributors_brand_id_brands")
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["distributors.id"], name=op.f("fk_distributors_parent_id_distributors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_distributors")),
        sa.UniqueConstraint("brand_id", "code", name=op.f("uq_distributors_brand_id_code")),
    )
    with op.batch_alter_table("distributors", schema=None) as batch_op:
        batch_op.create_index(
            "ix_distributors_brand_id_parent_id", ["brand_id", "parent_id"], unique=False
        )

    op.create_table(
        "distributor_api_keys",
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("distributor_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_distributor_api_keys_brand_id_brands")
        ),
        sa.ForeignKeyConstraint(
            ["distributor_id"],
            ["distributors.id"],
            name=op.f("fk_distributor_api_keys_distributor_id_distributors"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_distributor_api_keys")),
    )
    with op.batch_alter_table("distributor_api_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_distributor_api_keys_distributor_id"), ["distributor_id"], unique=False
        )

    op.create_table(
        "distributor_users",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("distributor_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["distributor_id"],
            ["distributors.id"],
            name=op.f("fk_distributor_users_distributor_id_distributors"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_distributor_users_user_id_users")
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_distributor_users")),
    )
    with op.batch_alter_table("distributor_users", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_distributor_users_distributor_id"), ["distributor_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("distributor_users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_distributor_users_distributor_id"))

    op.drop_table("distributor_users")
    with op.batch_alter_table("distributor_api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_distributor_api_keys_distributor_id"))

    op.drop_table("distributor_api_keys")
    with op.batch_alter_table("distributors", schema=None) as batch_op:
        batch_op.drop_index("ix_distributors_brand_id_parent_id")

    op.drop_table("distributors")
