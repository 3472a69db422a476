"""Tables of batch genealogy and recalls (anticounterfeit owns the definitions).

- ``material_lots``: a supplier's lot of a raw or packaging material, as received.
- ``batch_materials``: which material lots a production batch consumed, and how much.
- ``batch_productions``: the line shift a batch was made on (the line is on ``batches``).
- ``quality_results``: quality checks of a batch (pass / fail / hold).
- ``recalls`` and ``recall_scopes``: a recall's definition, status and what it covers
  (batches, material lots — expanded to the batches that consumed them — or code ranges).
- ``recall_confirmations``: a distributor's reported quarantined / returned quantities
  (append-only; the latest per distributor counts).

Nothing here grows with codes issued: scopes are ranges, and a code's recall status is
compiled into the scan path's per-roll segments (``anticounterfeit.metadata``).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from kernel.db import Base, BigIntPK, UUIDPrimaryKey, utcnow

__all__ = [
    "RECALL_SEVERITIES",
    "BatchMaterial",
    "BatchProduction",
    "MaterialLot",
    "QualityResult",
    "Recall",
    "RecallConfirmation",
    "RecallScope",
    "RecallStatus",
    "ScopeKind",
]

# Most severe first (the order decides which recall a code shows when several cover it).
RECALL_SEVERITIES = ("critical", "high", "medium", "low")


class RecallStatus:
    DRAFT = "draft"
    ACTIVE = "active"
    CLOSED = "closed"


class ScopeKind:
    BATCH = "batch"
    MATERIAL_LOT = "material_lot"
    CODE_RANGE = "code_range"
    ALL = (BATCH, MATERIAL_LOT, CODE_RANGE)


class MaterialLot(UUIDPrimaryKey, Base):
    __tablename__ = "material_lots"
    __table_args__ = (UniqueConstraint("brand_id", "supplier", "material", "lot_number"),)

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id"), index=True)
    supplier: Mapped[str] = mapped_column(String(200))
    material: Mapped[str] = mapped_column(String(200))
    lot_number: Mapped[str] = mapped_column(String(50))
    received_date: Mapped[date] = mapped_column(Date)
    quantity: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BatchMaterial(Base):
    """Batch ``batch_id`` consumed ``quantity`` ``unit`` of material lot ``material_lot_id``."""

    __tablename__ = "batch_materials"
    __table_args__ = (
        UniqueConstraint("batch_id", "material_lot_id"),
        CheckConstraint("quantity >= 0", name="quantity_non_negative"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id"), index=True)
    batch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("batches.id"), index=True)
    material_lot_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("material_lots.id"), index=True)
    quantity: Mapped[float] = mapped_column(Float)
    unit: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BatchProduction(Base):
    """Production facts of a batch beyond ``batches`` (its line): the shift."""

    __tablename__ = "batch_productions"

    batch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("batches.id"), primary_key=True)
    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id"), index=True)
    shift: Mapped[str | None] = mapped_column(String(50))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class QualityResult(UUIDPrimaryKey, Base):
    __tablename__ = "quality_results"
    __table_args__ = (CheckConstraint("outcome IN ('pass', 'fail', 'hold')", name="outcome_known"),)

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id"), index=True)
    batch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("batches.id"), index=True)
    test: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(10))
    value: Mapped[str | None] = mapped_column(String(100))
    tested_at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Recall(UUIDPrimaryKey, Base):
    __tablename__ = "recalls"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'active', 'closed')", name="status_known"),
        CheckConstraint("severity IN ('critical', 'high', 'medium', 'low')", name="severity_known"),
        Index("ix_recalls_brand_id_status", "brand_id", "status"),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id"))
    reason: Mapped[str] = mapped_column(String(1000))
    severity: Mapped[str] = mapped_column(String(10))
    consumer_instructions: Mapped[str] = mapped_column(String(1000))
    distributor_instructions: Mapped[str] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(10), default=RecallStatus.DRAFT)
    version: Mapped[int] = mapped_column(Integer, default=1)  # bumped by every change
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    activated_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    created_by: Mapped[uuid.UUID | None]


class RecallScope(Base):
    """One thing a recall covers; exactly the columns of its ``kind`` are set."""

    __tablename__ = "recall_scopes"
    __table_args__ = (
        CheckConstraint("kind IN ('batch', 'material_lot', 'code_range')", name="kind_known"),
        CheckConstraint(
            "(kind <> 'code_range') OR (seq_end > seq_start AND seq_start >= 0)",
            name="range_valid",
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    recall_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("recalls.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    batch_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("batches.id"), index=True)
    material_lot_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("material_lots.id"), index=True
    )
    roll_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("code_rolls.id"), index=True)
    seq_start: Mapped[int | None] = mapped_column(BigInteger)
    seq_end: Mapped[int | None] = mapped_column(BigInteger)


class RecallConfirmation(Base):
    """A distributor's current quarantined / returned totals for a recall (latest row wins).

    ``distributor_id`` is channel_control's distributor (no foreign key across domains).
    """

    __tablename__ = "recall_confirmations"
    __table_args__ = (
        CheckConstraint("quarantined >= 0 AND returned >= 0", name="quantities_non_negative"),
        Index("ix_recall_confirmations_recall_id_distributor_id", "recall_id", "distributor_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    recall_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("recalls.id"))
    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id"), index=True)
    distributor_id: Mapped[uuid.UUID]
    quarantined: Mapped[int] = mapped_column(BigInteger)
    returned: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str | None] = mapped_column(String(500))
    confirmed_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_by: Mapped[str | None] = mapped_column(String(100))
