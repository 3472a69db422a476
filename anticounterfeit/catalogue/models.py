"""Tables owned by anticounterfeit: brands, keys, products, batches, code rolls and ranges.

Storage grows with rolls and range events, never with codes issued: a roll of 10 million
codes is one ``code_rolls`` row. A code's identity is ``code_id = kid * 2**40 + index``."""

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

from kernel.db import Base, UUIDPrimaryKey, utcnow

__all__ = ["Batch", "Brand", "BrandCodeKey", "Product"]


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
