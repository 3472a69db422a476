"""Tables of channel control's aggregation and shipments (issue 4 §2).

Code identities are ``code_id = kid * 2**40 + index`` (anticounterfeit.models.code_id_of);
item sets are stored as half-open code_id ranges, so a roll range of 100,000 units is one row
wherever it goes. ``unit_positions`` and the position columns of ``containers`` are the
current-position projection read by ``channel_control.destination``.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from kernel.db import Base, BigIntPK, UUIDPrimaryKey, utcnow

__all__ = [
    "Aggregation",
    "AggregationOperation",
    "Container",
    "ContainerKind",
    "PositionColumns",
    "Shipment",
    "ShipmentKind",
    "ShipmentLine",
    "UnitPosition",
]


class ContainerKind(enum.StrEnum):
    CASE = "case"
    PALLET = "pallet"


class ShipmentKind(enum.StrEnum):
    OUTBOUND = "outbound"  # brand (factory) -> distributor
    TRANSFER = "transfer"  # distributor -> distributor of the same brand
    RETURN = "return"  # distributor -> brand


class PositionColumns:
    """Where a thing currently is: the current-position projection, maintained in the same
    transaction as every shipment and unpack, so that resolving a unit never reads shipment
    history. ``distributor_id`` None with a ``shipment_id`` means returned to the brand.
    ``moved_at`` orders positions: a unit is where its newest position (own, case's,
    pallet's) says.
    """

    distributor_id: Mapped[uuid.UUID | None]
    shipment_id: Mapped[uuid.UUID | None]
    document_number: Mapped[str | None] = mapped_column(String(100))
    shipped_at: Mapped[datetime | None]
    moved_at: Mapped[datetime | None]
    received: Mapped[bool] = mapped_column(Boolean, default=False)


class Container(PositionColumns, UUIDPrimaryKey, Base):
    """A case or pallet: identified by an issued code (``code_id``) or, for pallets, an SSCC.

    ``parent_id`` is the pallet a case is on now (history lives in ``aggregations``).
    """

    __tablename__ = "containers"
    __table_args__ = (
        UniqueConstraint("code_id"),
        UniqueConstraint("brand_id", "sscc"),
        CheckConstraint("kind IN ('case', 'pallet')", name="kind_known"),
        CheckConstraint(
            "(code_id IS NOT NULL AND sscc IS NULL) OR (code_id IS NULL AND sscc IS NOT NULL)",
            name="one_identity",
        ),
        Index("ix_containers_parent_id", "parent_id"),
        Index("ix_containers_shipment_id", "shipment_id"),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    code_id: Mapped[int | None] = mapped_column(BigInteger)
    gtin: Mapped[str | None] = mapped_column(String(14))
    serial: Mapped[str | None] = mapped_column(String(20))
    sscc: Mapped[str | None] = mapped_column(String(18))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("containers.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AggregationOperation(UUIDPrimaryKey, Base):
    """One bulk pack/unpack call; its ``Idempotency-Key`` replays ``result``."""

    __tablename__ = "aggregation_operations"
    __table_args__ = (
        UniqueConstraint("brand_id", "idempotency_key"),
        CheckConstraint("action IN ('pack', 'unpack')", name="action_known"),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id"), index=True)
    action: Mapped[str] = mapped_column(String(10))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_sha256: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[uuid.UUID | None]


class Aggregation(Base):
    """A child (code_id range of items, or a case) inside a parent container for a period.

    Open rows (``unpacked_at`` NULL) never overlap: a unit or case is in at most one container.
    A partial unpack splits a row, every piece keeping its ``packed_at``.
    """

    __tablename__ = "aggregations"
    __table_args__ = (
        CheckConstraint(
            "(child_container_id IS NULL AND child_start IS NOT NULL AND child_end > child_start)"
            " OR (child_container_id IS NOT NULL AND child_start IS NULL AND child_end IS NULL)",
            name="one_child",
        ),
        Index(
            "ix_aggregations_open_child_start",
            "brand_id",
            "child_start",
            sqlite_where=text("unpacked_at IS NULL"),
            postgresql_where=text("unpacked_at IS NULL"),
        ),
        Index("ix_aggregations_parent_id", "parent_id", "child_start"),
        Index("ix_aggregations_child_container_id", "child_container_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id"), index=True)
    parent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("containers.id"))
    child_start: Mapped[int | None] = mapped_column(BigInteger)
    child_end: Mapped[int | None] = mapped_column(BigInteger)
    child_container_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("containers.id"))
    packed_at: Mapped[datetime] = mapped_column(default=utcnow)
    packed_op_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("aggregation_operations.id"))
    unpacked_at: Mapped[datetime | None]
    unpacked_op_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("aggregation_operations.id")
    )


class Shipment(UUIDPrimaryKey, Base):
    """A shipping document; ``document_number`` is its idempotency key within the brand."""

    __tablename__ = "shipments"
    __table_args__ = (
        UniqueConstraint("brand_id", "document_number"),
        CheckConstraint("kind IN ('outbound', 'transfer', 'return')", name="kind_known"),
        CheckConstraint("status IN ('in_transit', 'received')", name="status_known"),
        Index("ix_shipments_brand_id_shipped_at", "brand_id", "shipped_at"),
        Index("ix_shipments_to_distributor_id", "to_distributor_id"),
        Index("ix_shipments_from_distributor_id", "from_distributor_id"),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id"))
    document_number: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(10))
    from_distributor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("distributors.id"))
    to_distributor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("distributors.id"))
    status: Mapped[str] = mapped_column(String(12), default="in_transit")
    content_sha256: Mapped[str] = mapped_column(String(64))
    unit_count: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str | None] = mapped_column(String(500))
    shipped_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[uuid.UUID | None]
    created_via: Mapped[str] = mapped_column(String(20))  # admin | distributor
    received_at: Mapped[datetime | None]
    received_by: Mapped[uuid.UUID | None]


class ShipmentLine(Base):
    """What a shipment carries: a code_id range of loose items, or one case or pallet."""

    __tablename__ = "shipment_lines"
    __table_args__ = (
        CheckConstraint(
            "(container_id IS NULL AND code_start IS NOT NULL AND code_end > code_start)"
            " OR (container_id IS NOT NULL AND code_start IS NULL AND code_end IS NULL)",
            name="one_content",
        ),
        Index("ix_shipment_lines_code_start", "code_start"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    shipment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("shipments.id"), index=True)
    code_start: Mapped[int | None] = mapped_column(BigInteger)
    code_end: Mapped[int | None] = mapped_column(BigInteger)
    container_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("containers.id"), index=True)


class UnitPosition(PositionColumns, Base):
    """Current position of loose units, as non-overlapping code_id ranges [code_start, code_end)."""

    __tablename__ = "unit_positions"
    __table_args__ = (
        CheckConstraint("code_end > code_start", name="range_valid"),
        Index("ix_unit_positions_brand_id_code_start", "brand_id", "code_start", unique=True),
        Index("ix_unit_positions_shipment_id", "shipment_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id"))
    code_start: Mapped[int] = mapped_column(BigInteger)
    code_end: Mapped[int] = mapped_column(BigInteger)
