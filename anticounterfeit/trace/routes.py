"""Genealogy admin API: material lots, what a batch consumed, its shift and quality results.

Brand admins write, viewers read. Changing what a batch consumed invalidates the scan path's
metadata of its rolls after commit (a recall by material lot reaches the batch's codes).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, delete, get, post, put
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, QueryParameter

from anticounterfeit.catalogue.routes import metadata_of
from anticounterfeit.trace import genealogy
from anticounterfeit.trace.schemas import (
    BatchGenealogyOut,
    ConsumptionIn,
    MaterialLotCreate,
    MaterialLotOut,
    MaterialLotPage,
    QualityResultIn,
    QualityResultOut,
    ShiftIn,
)
from kernel.guards import BRAND_READ, BRAND_WRITE
from kernel.pagination import Limit, Offset
from kernel.tenancy import SECURITY, ActingBrand, Caller, Db, scoped_dependencies
from kernel.uow import after_commit

__all__ = ["ROUTES", "BatchGenealogyController", "MaterialLotController"]


class MaterialLotController(Controller):
    path = "/v1/admin/material-lots"
    tags = ("traceability",)
    security = SECURITY
    dependencies = scoped_dependencies()

    @post("/", status_code=201, guards=[BRAND_WRITE])
    async def create_material_lot(
        self,
        data: JSONBody[MaterialLotCreate],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
    ) -> MaterialLotOut:
        """Register a received lot of a material (supplier, material, lot number, date)."""
        lot = await genealogy.create_material_lot(
            db,
            principal,
            acting_brand,
            supplier=data.supplier,
            material=data.material,
            lot_number=data.lot_number,
            received_date=data.received_date,
            quantity=data.quantity,
            unit=data.unit,
        )
        return MaterialLotOut.of(lot)

    @get("/", guards=[BRAND_READ])
    async def list_material_lots(
        self,
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        supplier: Annotated[str | None, QueryParameter(max_length=200)] = None,
        material: Annotated[str | None, QueryParameter(max_length=200)] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> MaterialLotPage:
        """The brand's material lots, by received date; filter by supplier or material."""
        rows, total = await genealogy.list_material_lots(
            db, acting_brand, supplier=supplier, material=material, limit=limit, offset=offset
        )
        return MaterialLotPage(
            items=[MaterialLotOut.of(r) for r in rows], total=total, limit=limit, offset=offset
        )

    @get("/{lot_id:uuid}", guards=[BRAND_READ])
    async def get_material_lot(
        self, lot_id: FromPath[uuid.UUID], principal: Caller, acting_brand: ActingBrand, db: Db
    ) -> MaterialLotOut:
        """One material lot."""
        return MaterialLotOut.of(await genealogy.get_material_lot(db, acting_brand, lot_id))


class BatchGenealogyController(Controller):
    path = "/v1/admin/batches/{batch_id:uuid}"
    tags = ("traceability",)
    security = SECURITY
    dependencies = scoped_dependencies()

    @get("/genealogy", guards=[BRAND_READ])
    async def get_batch_genealogy(
        self, batch_id: FromPath[uuid.UUID], principal: Caller, acting_brand: ActingBrand, db: Db
    ) -> BatchGenealogyOut:
        """The batch's product, line and shift, consumed material lots, suppliers, quality."""
        return BatchGenealogyOut.of(await genealogy.get_batch_genealogy(db, acting_brand, batch_id))

    @post("/materials", status_code=200, guards=[BRAND_WRITE])
    async def consume_material(
        self,
        batch_id: FromPath[uuid.UUID],
        data: JSONBody[ConsumptionIn],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        state: State,
    ) -> BatchGenealogyOut:
        """Record (or correct) the quantity of a material lot the batch consumed."""
        await genealogy.consume_material(
            db,
            principal,
            acting_brand,
            batch_id,
            material_lot_id=data.material_lot_id,
            quantity=data.quantity,
            unit=data.unit,
        )
        out = BatchGenealogyOut.of(await genealogy.get_batch_genealogy(db, acting_brand, batch_id))
        after_commit(db, lambda: metadata_of(state).invalidate_for(batch_id=batch_id))
        return out

    @delete("/materials/{material_lot_id:uuid}", guards=[BRAND_WRITE])
    async def remove_consumption(
        self,
        batch_id: FromPath[uuid.UUID],
        material_lot_id: FromPath[uuid.UUID],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        state: State,
    ) -> None:
        """Correct a wrongly recorded consumption."""
        await genealogy.remove_consumption(db, principal, acting_brand, batch_id, material_lot_id)
        after_commit(db, lambda: metadata_of(state).invalidate_for(batch_id=batch_id))

    @put("/shift", guards=[BRAND_WRITE])
    async def set_shift(
        self,
        batch_id: FromPath[uuid.UUID],
        data: JSONBody[ShiftIn],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
    ) -> BatchGenealogyOut:
        """Set (or clear with null) the shift the batch was produced on."""
        await genealogy.set_shift(db, principal, acting_brand, batch_id, data.shift)
        await db.flush()
        return BatchGenealogyOut.of(await genealogy.get_batch_genealogy(db, acting_brand, batch_id))

    @post("/quality", status_code=201, guards=[BRAND_WRITE])
    async def record_quality_result(
        self,
        batch_id: FromPath[uuid.UUID],
        data: JSONBody[QualityResultIn],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
    ) -> QualityResultOut:
        """Add a quality result (pass / fail / hold) to the batch."""
        result = await genealogy.record_quality_result(
            db,
            principal,
            acting_brand,
            batch_id,
            test=data.test,
            outcome=data.outcome,
            value=data.value,
            tested_at=data.tested_at,
            note=data.note,
        )
        return QualityResultOut.of(result)


ROUTES: list[Any] = [MaterialLotController, BatchGenealogyController]
