"""Request and response bodies of genealogy (material lots, consumption, quality) and recalls.

Inputs forbid unknown fields and bound every string, so shape errors are 400 problems naming
the field; rules needing the database (ownership, ranges inside a roll) are the services'.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from anticounterfeit.trace.genealogy import BatchGenealogy
from anticounterfeit.trace.models import MaterialLot, QualityResult, Recall
from anticounterfeit.trace.recalls import DistributorProgress, ScopeIn
from kernel.pagination import Page

__all__ = [
    "BatchGenealogyOut",
    "ConsumptionIn",
    "ConsumptionOut",
    "MaterialLotCreate",
    "MaterialLotOut",
    "ProgressOut",
    "QualityResultIn",
    "QualityResultOut",
    "RecallCreate",
    "RecallOut",
    "RecallUpdate",
    "ScopeBody",
    "ShiftIn",
]

Text200 = Annotated[str, Meta(min_length=1, max_length=200)]
LotNumber = Annotated[str, Meta(min_length=1, max_length=50)]
Unit = Annotated[str, Meta(min_length=1, max_length=20)]
Quantity = Annotated[float, Meta(ge=0, le=1e15)]
Severity = Literal["critical", "high", "medium", "low"]
Reason = Annotated[str, Meta(min_length=1, max_length=1000)]
ConsumerText = Annotated[str, Meta(min_length=1, max_length=1000)]
DistributorText = Annotated[str, Meta(min_length=1, max_length=2000)]
Seq = Annotated[int, Meta(ge=0, le=2**40)]


class _Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


# ---------------------------------------------------------------------------------------------
# Material lots and genealogy
# ---------------------------------------------------------------------------------------------
class MaterialLotCreate(_Input):
    supplier: Text200
    material: Text200
    lot_number: LotNumber
    received_date: date
    quantity: Quantity | None = None
    unit: Unit | None = None


class MaterialLotOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    supplier: str
    material: str
    lot_number: str
    received_date: date
    quantity: float | None
    unit: str | None
    created_at: datetime

    @classmethod
    def of(cls, lot: MaterialLot) -> MaterialLotOut:
        return cls(
            id=lot.id,
            supplier=lot.supplier,
            material=lot.material,
            lot_number=lot.lot_number,
            received_date=lot.received_date,
            quantity=lot.quantity,
            unit=lot.unit,
            created_at=lot.created_at,
        )


class MaterialLotPage(Page[MaterialLotOut], kw_only=True):
    """One page of material lot entries."""

    items: list[MaterialLotOut]


class ConsumptionIn(_Input):
    material_lot_id: uuid.UUID
    quantity: Quantity
    unit: Unit | None = None


class ConsumptionOut(msgspec.Struct, kw_only=True):
    material_lot: MaterialLotOut
    quantity: float
    unit: str | None


class ShiftIn(_Input):
    shift: Annotated[str, Meta(min_length=1, max_length=50)] | None


class QualityResultIn(_Input):
    test: Annotated[str, Meta(min_length=1, max_length=100)]
    outcome: Literal["pass", "fail", "hold"]
    tested_at: Annotated[datetime, Meta(tz=True, description="with a UTC offset")]
    value: Annotated[str, Meta(max_length=100)] | None = None
    note: Annotated[str, Meta(max_length=500)] | None = None


class QualityResultOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    test: str
    outcome: str
    value: str | None
    tested_at: datetime
    note: str | None

    @classmethod
    def of(cls, result: QualityResult) -> QualityResultOut:
        return cls(
            id=result.id,
            test=result.test,
            outcome=result.outcome,
            value=result.value,
            tested_at=result.tested_at,
            note=result.note,
        )


class BatchGenealogyOut(msgspec.Struct, kw_only=True):
    batch_id: uuid.UUID
    product_id: uuid.UUID
    gtin: str
    product_name: str
    lot: str
    production_date: date
    expiry_date: date | None
    line: str | None
    shift: str | None
    materials: list[ConsumptionOut]
    suppliers: list[str]
    quality: list[QualityResultOut]

    @classmethod
    def of(cls, g: BatchGenealogy) -> BatchGenealogyOut:
        return cls(
            batch_id=g.batch.id,
            product_id=g.product.id,
            gtin=g.product.gtin,
            product_name=g.product.name,
            lot=g.batch.lot,
            production_date=g.batch.production_date,
            expiry_date=g.batch.expiry_date,
            line=g.batch.line,
            shift=g.shift,
            materials=[
                ConsumptionOut(
                    material_lot=MaterialLotOut.of(m.lot), quantity=m.quantity, unit=m.unit
                )
                for m in g.materials
            ],
            suppliers=g.suppliers,
            quality=[QualityResultOut.of(q) for q in g.quality],
        )


# ---------------------------------------------------------------------------------------------
# Recalls
# ---------------------------------------------------------------------------------------------
class ScopeBody(_Input):
    """``kind`` batch (``batch_id``), material_lot (``material_lot_id``) or code_range
    (``roll_id`` and optional ``seq_start``/``seq_end``, half-open; default the whole roll)."""

    kind: Literal["batch", "material_lot", "code_range"]
    batch_id: uuid.UUID | None = None
    material_lot_id: uuid.UUID | None = None
    roll_id: uuid.UUID | None = None
    seq_start: Seq | None = None
    seq_end: Seq | None = None

    def to_scope(self) -> ScopeIn:
        return ScopeIn(
            kind=self.kind,
            batch_id=self.batch_id,
            material_lot_id=self.material_lot_id,
            roll_id=self.roll_id,
            seq_start=self.seq_start,
            seq_end=self.seq_end,
        )


class RecallCreate(_Input):
    reason: Reason
    severity: Severity
    consumer_instructions: ConsumerText
    distributor_instructions: DistributorText
    scopes: Annotated[list[ScopeBody], Meta(min_length=1, max_length=500)]


class RecallUpdate(_Input):
    reason: Reason | UnsetType = UNSET
    severity: Severity | UnsetType = UNSET
    consumer_instructions: ConsumerText | UnsetType = UNSET
    distributor_instructions: DistributorText | UnsetType = UNSET
    scopes: Annotated[list[ScopeBody], Meta(min_length=1, max_length=500)] | UnsetType = UNSET


class ScopeOut(msgspec.Struct, kw_only=True, omit_defaults=True):
    kind: str
    batch_id: uuid.UUID | None = None
    material_lot_id: uuid.UUID | None = None
    roll_id: uuid.UUID | None = None
    seq_start: int | None = None
    seq_end: int | None = None


class RecallOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    brand_id: uuid.UUID
    status: str
    severity: str
    reason: str
    consumer_instructions: str
    distributor_instructions: str
    version: int
    scopes: list[ScopeOut]
    created_at: datetime
    updated_at: datetime
    activated_at: datetime | None
    closed_at: datetime | None

    @classmethod
    def of(cls, recall: Recall, scopes: list[ScopeOut]) -> RecallOut:
        return cls(
            id=recall.id,
            brand_id=recall.brand_id,
            status=recall.status,
            severity=recall.severity,
            reason=recall.reason,
            consumer_instructions=recall.consumer_instructions,
            distributor_instructions=recall.distributor_instructions,
            version=recall.version,
            scopes=scopes,
            created_at=recall.created_at,
            updated_at=recall.updated_at,
            activated_at=recall.activated_at,
            closed_at=recall.closed_at,
        )


class RecallPage(Page[RecallOut], kw_only=True):
    """One page of recall entries."""

    items: list[RecallOut]


class ProgressOut(msgspec.Struct, kw_only=True):
    distributor_id: uuid.UUID
    quarantined: int
    returned: int
    confirmed_at: datetime
    note: str | None

    @classmethod
    def of(cls, p: DistributorProgress) -> ProgressOut:
        return cls(
            distributor_id=p.distributor_id,
            quarantined=p.quarantined,
            returned=p.returned,
            confirmed_at=p.confirmed_at,
            note=p.note,
        )
