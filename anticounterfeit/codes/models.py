"""Tables owned by anticounterfeit: brands, keys, products, batches, code rolls and ranges.

Storage grows with rolls and range events, never with codes issued: a roll of 10 million
codes is one ``code_rolls`` row. A code's identity is ``code_id = kid * 2**40 + index``."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from kernel.db import Base, BigIntPK, UUIDPrimaryKey, utcnow

__all__ = ["CodeRangeEvent", "CodeRoll", "RangeAction"]


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
