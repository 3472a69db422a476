"""brand links: GS1 Digital Link links per product, batch or code range (issue 15)

Revision ID: 0012f
Revises: 0012b
Create Date: 2026-12-03 18:41:18.358799
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012f"
down_revision: str | None = "0012b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "brand_links",
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("batch_id", sa.Uuid(), nullable=True),
        sa.Column("roll_id", sa.Uuid(), nullable=True),
        sa.Column("first_seq", sa.BigInteger(), nullable=True),
        sa.Column("last_seq", sa.BigInteger(), nullable=True),
        sa.Column("link_type", sa.String(length=60), nullable=False),
        sa.Column("href", sa.String(length=1000), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=True),
        sa.Column("media_type", sa.String(length=100), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "(roll_id IS NULL AND first_seq IS NULL AND last_seq IS NULL) OR (roll_id IS NOT NULL AND first_seq IS NOT NULL AND last_seq IS NOT NULL AND first_seq <= last_seq)",
            name=op.f("ck_brand_links_range_complete"),
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_brand_links_batch_id_batches")
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_brand_links_brand_id_brands")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_brand_links_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["roll_id"], ["code_rolls.id"], name=op.f("fk_brand_links_roll_id_code_rolls")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_brand_links")),
    )
    with op.batch_alter_table("brand_links", schema=None) as batch_op:
        batch_op.create_index(
            "ix_brand_links_brand_product", ["brand_id", "product_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("brand_links", schema=None) as batch_op:
        batch_op.drop_index("ix_brand_links_brand_product")

    op.drop_table("brand_links")
