"""Batch genealogy: material lots, what each batch consumed, its shift and quality results.

Also (from ``anticounterfeit.trace.code_ranges``, re-exported here) the range arithmetic both
traces and recalls stand on: ``code_ranges_of_batches`` turns
batches into the code ranges (roll + sequence interval) bound to them, by compiling each
roll's range events exactly as the scan path does. It never touches a row per code, so a
batch of 10 million codes costs one roll row and its handful of events.

Every function takes the acting ``brand_id``; objects of other brands are "not found".
Functions flush, never commit.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from anticounterfeit.catalogue import services as catalogue
from anticounterfeit.catalogue.models import Batch, Product
from anticounterfeit.trace.code_ranges import (
    CodeRange,
    code_ranges_in,
    code_ranges_of_batches,
    code_ranges_of_rolls,
)
from anticounterfeit.trace.models import BatchMaterial, BatchProduction, MaterialLot, QualityResult
from kernel.audit import record_audit
from kernel.auth import Principal
from kernel.db import utcnow
from kernel.errors import Conflict, InvalidInput, NotFound
from kernel.pagination import fetch_page

__all__ = [
    "BatchGenealogy",
    "CodeRange",
    "ConsumedLot",
    "batches_of_material_lots",
    "code_ranges_in",
    "code_ranges_of_batches",
    "code_ranges_of_rolls",
    "consume_material",
    "create_material_lot",
    "get_batch_genealogy",
    "get_material_lot",
    "list_material_lots",
    "record_quality_result",
    "remove_consumption",
    "set_shift",
]


# ---------------------------------------------------------------------------------------------
# Material lots
# ---------------------------------------------------------------------------------------------
async def get_material_lot(
    session: AsyncSession, brand_id: uuid.UUID, lot_id: uuid.UUID, *, field: str | None = None
) -> MaterialLot:
    """The brand's material lot; ``NotFound`` (naming ``field``) otherwise."""
    lot = (
        await session.execute(
            select(MaterialLot).where(MaterialLot.id == lot_id, MaterialLot.brand_id == brand_id)
        )
    ).scalar_one_or_none()
    if lot is None:
        raise NotFound("material lot not found", code="material_lot_not_found", field=field)
    return lot


async def create_material_lot(
    session: AsyncSession,
    actor: Principal | None,
    brand_id: uuid.UUID,
    *,
    supplier: str,
    material: str,
    lot_number: str,
    received_date: date,
    quantity: float | None = None,
    unit: str | None = None,
) -> MaterialLot:
    """Register a received lot of a material from a supplier (unique per brand)."""
    taken = Conflict(
        f"lot {lot_number!r} of {material!r} from {supplier!r} is already registered",
        code="material_lot_taken",
        field="lot_number",
    )
    clash = await session.execute(
        select(MaterialLot.id).where(
            MaterialLot.brand_id == brand_id,
            MaterialLot.supplier == supplier,
            MaterialLot.material == material,
            MaterialLot.lot_number == lot_number,
        )
    )
    if clash.first() is not None:
        raise taken
    lot = MaterialLot(
        id=uuid.uuid4(),
        brand_id=brand_id,
        supplier=supplier,
        material=material,
        lot_number=lot_number,
        received_date=received_date,
        quantity=quantity,
        unit=unit,
        created_at=utcnow(),
    )
    session.add(lot)
    await _flush(session, taken)
    record_audit(
        session,
        actor,
        "material_lot.create",
        target_type="material_lot",
        target_id=lot.id,
        brand_id=brand_id,
        details={"supplier": supplier, "material": material, "lot_number": lot_number},
    )
    return lot


async def list_material_lots(
    session: AsyncSession,
    brand_id: uuid.UUID,
    *,
    supplier: str | None,
    material: str | None,
    limit: int,
    offset: int,
) -> tuple[list[MaterialLot], int]:
    query = select(MaterialLot).where(MaterialLot.brand_id == brand_id)
    if supplier is not None:
        query = query.where(MaterialLot.supplier == supplier)
    if material is not None:
        query = query.where(MaterialLot.material == material)
    result: tuple[list[MaterialLot], int] = await fetch_page(
        session,
        query.order_by(MaterialLot.received_date, MaterialLot.id),
        limit=limit,
        offset=offset,
    )
    return result


# ---------------------------------------------------------------------------------------------
# Batch consumption, shift, quality
# ---------------------------------------------------------------------------------------------
async def _batch(session: AsyncSession, brand_id: uuid.UUID, batch_id: uuid.UUID) -> Batch:
    return await catalogue.get_batch(session, brand_id, batch_id)


async def consume_material(
    session: AsyncSession,
    actor: Principal | None,
    brand_id: uuid.UUID,
    batch_id: uuid.UUID,
    *,
    material_lot_id: uuid.UUID,
    quantity: float,
    unit: str | None,
) -> BatchMaterial:
    """Record (or correct) how much of a material lot a batch consumed."""
    await _batch(session, brand_id, batch_id)
    await get_material_lot(session, brand_id, material_lot_id, field="material_lot_id")
    if quantity < 0:
        raise InvalidInput("quantity must be >= 0", code="invalid_quantity", field="quantity")
    row = (
        await session.execute(
            select(BatchMaterial).where(
                BatchMaterial.batch_id == batch_id,
                BatchMaterial.material_lot_id == material_lot_id,
            )
        )
    ).scalar_one_or_none()
    if row is None:
        row = BatchMaterial(
            brand_id=brand_id,
            batch_id=batch_id,
            material_lot_id=material_lot_id,
            quantity=quantity,
            unit=unit,
            created_at=utcnow(),
        )
        session.add(row)
    else:
        row.quantity = quantity
        row.unit = unit
    await _flush(
        session,
        Conflict("consumption changed concurrently", code="conflict", field="material_lot_id"),
    )
    record_audit(
        session,
        actor,
        "batch.consume_material",
        target_type="batch",
        target_id=batch_id,
        brand_id=brand_id,
        details={"material_lot_id": str(material_lot_id), "quantity": quantity, "unit": unit},
    )
    return row


async def remove_consumption(
    session: AsyncSession,
    actor: Principal | None,
    brand_id: uuid.UUID,
    batch_id: uuid.UUID,
    material_lot_id: uuid.UUID,
) -> None:
    """Forget that a batch consumed a material lot (a data-entry correction)."""
    row = (
        await session.execute(
            select(BatchMaterial).where(
                BatchMaterial.brand_id == brand_id,
                BatchMaterial.batch_id == batch_id,
                BatchMaterial.material_lot_id == material_lot_id,
            )
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound("this batch did not consume that lot", code="consumption_not_found")
    await session.delete(row)
    record_audit(
        session,
        actor,
        "batch.remove_material",
        target_type="batch",
        target_id=batch_id,
        brand_id=brand_id,
        details={"material_lot_id": str(material_lot_id)},
    )


async def set_shift(
    session: AsyncSession,
    actor: Principal | None,
    brand_id: uuid.UUID,
    batch_id: uuid.UUID,
    shift: str | None,
) -> None:
    """Set the shift a batch was produced on."""
    await _batch(session, brand_id, batch_id)
    row = await session.get(BatchProduction, batch_id)
    if row is None:
        session.add(BatchProduction(batch_id=batch_id, brand_id=brand_id, shift=shift))
    else:
        row.shift = shift
        row.updated_at = utcnow()
    record_audit(
        session,
        actor,
        "batch.set_shift",
        target_type="batch",
        target_id=batch_id,
        brand_id=brand_id,
        details={"shift": shift},
    )


async def record_quality_result(
    session: AsyncSession,
    actor: Principal | None,
    brand_id: uuid.UUID,
    batch_id: uuid.UUID,
    *,
    test: str,
    outcome: str,
    value: str | None,
    tested_at: datetime,
    note: str | None,
) -> QualityResult:
    """Add a quality check result (pass / fail / hold) to a batch."""
    await _batch(session, brand_id, batch_id)
    if outcome not in ("pass", "fail", "hold"):
        raise InvalidInput(
            "outcome must be pass, fail or hold", code="invalid_outcome", field="outcome"
        )
    result = QualityResult(
        id=uuid.uuid4(),
        brand_id=brand_id,
        batch_id=batch_id,
        test=test,
        outcome=outcome,
        value=value,
        tested_at=tested_at,
        note=note,
        created_at=utcnow(),
    )
    session.add(result)
    await session.flush()
    record_audit(
        session,
        actor,
        "batch.quality_result",
        target_type="batch",
        target_id=batch_id,
        brand_id=brand_id,
        details={"test": test, "outcome": outcome},
    )
    return result


# ---------------------------------------------------------------------------------------------
# Backward: batch -> materials -> suppliers
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ConsumedLot:
    lot: MaterialLot
    quantity: float
    unit: str | None


@dataclass(frozen=True, slots=True)
class BatchGenealogy:
    batch: Batch
    product: Product
    shift: str | None
    materials: list[ConsumedLot]
    quality: list[QualityResult]

    @property
    def suppliers(self) -> list[str]:
        return sorted({m.lot.supplier for m in self.materials})


async def get_batch_genealogy(
    session: AsyncSession, brand_id: uuid.UUID, batch_id: uuid.UUID
) -> BatchGenealogy:
    """A batch with its product, shift, consumed material lots and quality results."""
    batch = await _batch(session, brand_id, batch_id)
    product = await session.get(Product, batch.product_id)
    assert product is not None  # foreign key
    production = await session.get(BatchProduction, batch_id)
    rows = await session.execute(
        select(MaterialLot, BatchMaterial.quantity, BatchMaterial.unit)
        .join(BatchMaterial, BatchMaterial.material_lot_id == MaterialLot.id)
        .where(BatchMaterial.batch_id == batch_id, BatchMaterial.brand_id == brand_id)
        .order_by(MaterialLot.supplier, MaterialLot.material, MaterialLot.lot_number)
    )
    materials = [ConsumedLot(lot, quantity, unit) for lot, quantity, unit in rows.all()]
    quality = list(
        (
            await session.execute(
                select(QualityResult)
                .where(QualityResult.batch_id == batch_id, QualityResult.brand_id == brand_id)
                .order_by(QualityResult.tested_at, QualityResult.id)
            )
        ).scalars()
    )
    return BatchGenealogy(
        batch, product, production.shift if production else None, materials, quality
    )


# ---------------------------------------------------------------------------------------------
# Forward: material lots -> batches -> code ranges
# ---------------------------------------------------------------------------------------------
async def batches_of_material_lots(
    session: AsyncSession, brand_id: uuid.UUID, lot_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[uuid.UUID, float, str | None]]]:
    """batch id -> [(material lot id, quantity, unit)] for batches that consumed any lot."""
    ids = list(lot_ids)
    out: dict[uuid.UUID, list[tuple[uuid.UUID, float, str | None]]] = defaultdict(list)
    if not ids:
        return out
    rows = await session.execute(
        select(
            BatchMaterial.batch_id,
            BatchMaterial.material_lot_id,
            BatchMaterial.quantity,
            BatchMaterial.unit,
        ).where(BatchMaterial.brand_id == brand_id, BatchMaterial.material_lot_id.in_(ids))
    )
    for batch_id, lot_id, quantity, unit in rows.all():
        out[batch_id].append((lot_id, quantity, unit))
    return out


async def _flush(session: AsyncSession, on_conflict: Conflict) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        raise on_conflict from exc
