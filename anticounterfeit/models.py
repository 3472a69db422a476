"""Tables owned by anticounterfeit: brands, keys, products, batches, code rolls and ranges.

Storage grows with rolls and range events, never with codes issued: a roll of 10 million
codes is one ``code_rolls`` row. A code's identity is ``code_id = kid * 2**40 + index``.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from kernel.db import Base, BigIntPK, UUIDPrimaryKey, utcnow

__all__ = [
    "INDEX_BITS",
    "Batch",
    "Brand",
    "BrandCodeKey",
    "CodeRangeEvent",
    "CodeRoll",
    "Product",
    "RangeAction",
    "code_id_of",
    "split_code_id",
]

INDEX_BITS = 40


def code_id_of(kid: int, index: int) -> int:
    """The platform-wide integer identity of a code (fits a signed 64-bit column)."""
    return (kid << INDEX_BITS) | index


def split_code_id(code_id: int) -> tuple[int, int]:
    return code_id >> INDEX_BITS, code_id & ((1 << INDEX_BITS) - 1)


class Brand(UUIDPrimaryKey, Base):
    __tablename__ = "brands"

    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Clone rule: more distinct devices than this on one code makes it suspicious.
    suspicious_distinct_devices: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BrandCodeKey(Base):
    """Which brand owns a key id. The secret itself lives in configuration, never here."""

    __tablename__ = "brand_code_keys"
    __table_args__ = (
        CheckConstraint("kid BETWEEN 1 AND 4095", name="kid_range"),
        Index(
            "uq_brand_code_keys_active",
            "brand_id",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )

    kid: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Next free 40-bit index under this key; rolls take contiguous ranges from it.
    next_index: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None]


class Product(UUIDPrimaryKey, Base):
    __tablename__ = "products"

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id"), index=True)
    gtin: Mapped[str] = mapped_column(String(14), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(2000))
    image_url: Mapped[str | None] = mapped_column(String(500))
    pin_length: Mapped[int | None] = mapped_column(Integer)  # None: no scratch-off PIN
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Batch(UUIDPrimaryKey, Base):
    __tablename__ = "batches"
    __table_args__ = (UniqueConstraint("brand_id", "product_id", "lot"),)

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id"), index=True)
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"), index=True)
    lot: Mapped[str] = mapped_column(String(20))
    production_date: Mapped[date] = mapped_column(Date)
    expiry_date: Mapped[date | None] = mapped_column(Date)
    line: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CodeRoll(UUIDPrimaryKey, Base):
    """One issuance: ``count`` codes for one product, indexes [first_index, first_index+count)."""

    __tablename__ = "code_rolls"
    __table_args__ = (
        UniqueConstraint("kid", "first_index"),
        UniqueConstraint("brand_id", "idempotency_key"),
        CheckConstraint("count > 0", name="count_positive"),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id"), index=True)
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"), index=True)
    kid: Mapped[int] = mapped_column(ForeignKey("brand_code_keys.kid"))
    first_index: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(BigInteger)
    batch_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("batches.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[uuid.UUID | None]


class RangeAction:
    ACTIVATE = "activate"
    VOID = "void"
    BIND_BATCH = "bind_batch"
    ALL = (ACTIVATE, VOID, BIND_BATCH)


class CodeRangeEvent(Base):
    """A lifecycle change for codes ``[seq_start, seq_end)`` of a roll; later events win."""

    __tablename__ = "code_range_events"
    __table_args__ = (
        CheckConstraint("seq_end > seq_start AND seq_start >= 0", name="range_valid"),
        CheckConstraint("action IN ('activate', 'void', 'bind_batch')", name="action_known"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    roll_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("code_rolls.id"), index=True)
    seq_start: Mapped[int] = mapped_column(BigInteger)
    seq_end: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(20))
    batch_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("batches.id"))
    reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[uuid.UUID | None]
