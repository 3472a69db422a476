"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-24 21:17:11.083206
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "audit_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("actor_name", sa.String(length=100), nullable=False),
        sa.Column("brand_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("target_type", sa.String(length=50), nullable=False),
        sa.Column("target_id", sa.String(length=100), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_brand_id"), ["brand_id"], unique=False)

    op.create_table(
        "brands",
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("suspicious_distinct_devices", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_brands")),
        sa.UniqueConstraint("slug", name=op.f("uq_brands_slug")),
    )
    op.create_table(
        "code_first_scans",
        sa.Column("code_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("scan_uid", sa.Uuid(), nullable=False),
        sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("device_hash", sa.String(length=64), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("region", sa.String(length=10), nullable=True),
        sa.Column("city", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("code_id", name=op.f("pk_code_first_scans")),
    )
    with op.batch_alter_table("code_first_scans", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_code_first_scans_brand_id"), ["brand_id"], unique=False
        )

    op.create_table(
        "counterfeit_attempts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=False),
        sa.Column("reason", sa.String(length=30), nullable=False),
        sa.Column("brand_id", sa.Uuid(), nullable=True),
        sa.Column("product_id", sa.Uuid(), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_counterfeit_attempts")),
        sa.UniqueConstraint(
            "bucket_start",
            "gtin",
            "ip",
            "reason",
            name=op.f("uq_counterfeit_attempts_bucket_start_gtin_ip_reason"),
        ),
    )
    with op.batch_alter_table("counterfeit_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_counterfeit_attempts_brand_id"), ["brand_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_counterfeit_attempts_bucket_start"), ["bucket_start"], unique=False
        )

    op.create_table(
        "scans",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("scan_uid", sa.Uuid(), nullable=False),
        sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("code_id", sa.BigInteger(), nullable=False),
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("roll_id", sa.Uuid(), nullable=False),
        sa.Column("verdict", sa.String(length=20), nullable=False),
        sa.Column("device_hash", sa.String(length=64), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("region", sa.String(length=10), nullable=True),
        sa.Column("city", sa.String(length=100), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.Column("location_source", sa.String(length=8), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("user_agent", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scans")),
        sa.UniqueConstraint("scan_uid", name=op.f("uq_scans_scan_uid")),
    )
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.create_index(
            "ix_scans_brand_id_scanned_at", ["brand_id", "scanned_at"], unique=False
        )
        batch_op.create_index(
            "ix_scans_code_id_scanned_at", ["code_id", "scanned_at"], unique=False
        )

    op.create_table(
        "brand_code_keys",
        sa.Column("kid", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("next_index", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kid BETWEEN 1 AND 4095", name=op.f("ck_brand_code_keys_kid_range")),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_brand_code_keys_brand_id_brands")
        ),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_brand_code_keys")),
    )
    with op.batch_alter_table("brand_code_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_brand_code_keys_brand_id"), ["brand_id"], unique=False)
        batch_op.create_index(
            "uq_brand_code_keys_active",
            ["brand_id"],
            unique=True,
            sqlite_where=sa.text("active"),
            postgresql_where=sa.text("active"),
        )

    op.create_table(
        "products",
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=True),
        sa.Column("image_url", sa.String(length=500), nullable=True),
        sa.Column("pin_length", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_products_brand_id_brands")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("gtin", name=op.f("uq_products_gtin")),
    )
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_products_brand_id"), ["brand_id"], unique=False)

    op.create_table(
        "users",
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=30), nullable=False),
        sa.Column("brand_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "(role = 'platform_admin' AND brand_id IS NULL) OR (role <> 'platform_admin' AND brand_id IS NOT NULL)",
            name=op.f("ck_users_brand_matches_role"),
        ),
        sa.ForeignKeyConstraint(["brand_id"], ["brands.id"], name=op.f("fk_users_brand_id_brands")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_users_brand_id"), ["brand_id"], unique=False)

    op.create_table(
        "batches",
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("lot", sa.String(length=20), nullable=False),
        sa.Column("production_date", sa.Date(), nullable=False),
        sa.Column("expiry_date", sa.Date(), nullable=True),
        sa.Column("line", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_batches_brand_id_brands")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_batches_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batches")),
        sa.UniqueConstraint(
            "brand_id", "product_id", "lot", name=op.f("uq_batches_brand_id_product_id_lot")
        ),
    )
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_batches_brand_id"), ["brand_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_batches_product_id"), ["product_id"], unique=False)

    op.create_table(
        "code_rolls",
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("kid", sa.Integer(), nullable=False),
        sa.Column("first_index", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("batch_id", sa.Uuid(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=100), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("count > 0", name=op.f("ck_code_rolls_count_positive")),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_code_rolls_batch_id_batches")
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_code_rolls_brand_id_brands")
        ),
        sa.ForeignKeyConstraint(
            ["kid"], ["brand_code_keys.kid"], name=op.f("fk_code_rolls_kid_brand_code_keys")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_code_rolls_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_code_rolls")),
        sa.UniqueConstraint(
            "brand_id", "idempotency_key", name=op.f("uq_code_rolls_brand_id_idempotency_key")
        ),
        sa.UniqueConstraint("kid", "first_index", name=op.f("uq_code_rolls_kid_first_index")),
    )
    with op.batch_alter_table("code_rolls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_code_rolls_brand_id"), ["brand_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_code_rolls_product_id"), ["product_id"], unique=False)

    op.create_table(
        "code_range_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("roll_id", sa.Uuid(), nullable=False),
        sa.Column("seq_start", sa.BigInteger(), nullable=False),
        sa.Column("seq_end", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("batch_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.CheckConstraint(
            "action IN ('activate', 'void', 'bind_batch')",
            name=op.f("ck_code_range_events_action_known"),
        ),
        sa.CheckConstraint(
            "seq_end > seq_start AND seq_start >= 0", name=op.f("ck_code_range_events_range_valid")
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_code_range_events_batch_id_batches")
        ),
        sa.ForeignKeyConstraint(
            ["roll_id"], ["code_rolls.id"], name=op.f("fk_code_range_events_roll_id_code_rolls")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_code_range_events")),
    )
    with op.batch_alter_table("code_range_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_code_range_events_roll_id"), ["roll_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("code_range_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_code_range_events_roll_id"))

    op.drop_table("code_range_events")
    with op.batch_alter_table("code_rolls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_code_rolls_product_id"))
        batch_op.drop_index(batch_op.f("ix_code_rolls_brand_id"))

    op.drop_table("code_rolls")
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_batches_product_id"))
        batch_op.drop_index(batch_op.f("ix_batches_brand_id"))

    op.drop_table("batches")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_brand_id"))

    op.drop_table("users")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_products_brand_id"))

    op.drop_table("products")
    with op.batch_alter_table("brand_code_keys", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_brand_code_keys_active",
            sqlite_where=sa.text("active"),
            postgresql_where=sa.text("active"),
        )
        batch_op.drop_index(batch_op.f("ix_brand_code_keys_brand_id"))

    op.drop_table("brand_code_keys")
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.drop_index("ix_scans_code_id_scanned_at")
        batch_op.drop_index("ix_scans_brand_id_scanned_at")

    op.drop_table("scans")
    with op.batch_alter_table("counterfeit_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_counterfeit_attempts_bucket_start"))
        batch_op.drop_index(batch_op.f("ix_counterfeit_attempts_brand_id"))

    op.drop_table("counterfeit_attempts")
    with op.batch_alter_table("code_first_scans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_code_first_scans_brand_id"))

    op.drop_table("code_first_scans")
    op.drop_table("brands")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_brand_id"))
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))

    op.drop_table("audit_log")
