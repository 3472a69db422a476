"""The ``brand_links`` table: one row per configured link. Its scope follows from what is set:
a code range (``roll_id`` + sequence range), a batch (``batch_id``) or the whole product."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from kernel.db import Base, UUIDPrimaryKey, utcnow

__all__ = ["BrandLink"]


class BrandLink(UUIDPrimaryKey, Base):
    __tablename__ = "brand_links"
    __table_args__ = (
        Index("ix_brand_links_brand_product", "brand_id", "product_id"),
        CheckConstraint(
            "(roll_id IS NULL AND first_seq IS NULL AND last_seq IS NULL)"
            " OR (roll_id IS NOT NULL AND first_seq IS NOT NULL AND last_seq IS NOT NULL"
            " AND first_seq <= last_seq)",
            name="range_complete",
        ),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id"))
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"))
    batch_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("batches.id"))
    roll_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("code_rolls.id"))
    first_seq: Mapped[int | None] = mapped_column(BigInteger)  # positions in the roll, inclusive
    last_seq: Mapped[int | None] = mapped_column(BigInteger)
    link_type: Mapped[str] = mapped_column(String(60))  # GS1 vocabulary term, e.g. "pip"
    href: Mapped[str] = mapped_column(String(1000))
    title: Mapped[str] = mapped_column(String(200))
    language: Mapped[str | None] = mapped_column(String(35))
    media_type: Mapped[str | None] = mapped_column(String(100))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
