"""The distributor side of logistics: its own shipments, receipts and packing under
``/v1/distributor/...``."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, JSONBody

from channel_control.distributors.auth import provide_distributor_principal
from channel_control.logistics import shipments, whereabouts
from channel_control.logistics.aggregation import container_label
from channel_control.logistics.route_support import (
    DistributorCaller,
    IdempotencyKey,
    ShipmentKindQ,
    ShipmentStatusQ,
    invalidate_positions_after_commit,
    own_key,
    pack_request,
    shipment_detail,
    shipment_out,
    shipment_request,
    unit_checker,
    unpack_request,
)
from channel_control.logistics.schemas import (
    AggregationResultOut,
    CheckIn,
    CheckOut,
    ContentOut,
    ContentsOut,
    DistributorShipmentCreate,
    PackIn,
    ShipmentDetailOut,
    ShipmentPage,
    UnpackIn,
)
from channel_control.logistics.shipments import Actor
from kernel.pagination import Limit, Offset
from kernel.tenancy import Db

__all__ = ["DistributorShippingController"]


# ---------------------------------------------------------------------------------------------
# Distributor side
# ---------------------------------------------------------------------------------------------
class DistributorShippingController(Controller):
    """A distributor's shipments (to or from itself only: any other is 404) and checks."""

    path = "/v1/distributor"
    tags = ("distributor",)
    dependencies = {"distributor": Provide(provide_distributor_principal)}

    @get("/shipments")
    async def list_my_shipments(
        self,
        distributor: DistributorCaller,
        db: Db,
        kind: FromQuery[ShipmentKindQ | None] = None,
        status: FromQuery[ShipmentStatusQ | None] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> ShipmentPage:
        """Shipments to or from the calling distributor, newest first."""
        rows, total = await shipments.list_shipments(
            db,
            distributor.brand_id,
            visible_to=distributor.distributor_id,
            kind=kind,
            status=status,
            limit=limit,
            offset=offset,
        )
        return ShipmentPage(
            items=await shipment_out(db, rows), total=total, limit=limit, offset=offset
        )

    @get("/shipments/{shipment_id:uuid}")
    async def get_my_shipment(
        self, shipment_id: FromPath[uuid.UUID], distributor: DistributorCaller, db: Db
    ) -> ShipmentDetailOut:
        """One shipment to or from the caller; another distributor's is 404."""
        shipment = await shipments.get_shipment(
            db, distributor.brand_id, shipment_id, visible_to=distributor.distributor_id
        )
        return await shipment_detail(db, shipment)

    @post("/shipments")
    async def create_my_shipment(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[DistributorShipmentCreate],
        distributor: DistributorCaller,
        db: Db,
    ) -> Response[ShipmentDetailOut]:
        """Ship goods the caller holds: ``transfer`` to another distributor of the brand or
        ``return`` to the brand. Same document-number idempotency as the admin API."""
        shipment, created = await shipments.create_shipment(
            db,
            unit_checker(request, distributor.brand_id),
            shipment_request(data, distributor.distributor_id),
            Actor(distributor=distributor),
        )
        invalidate_positions_after_commit(request, db, distributor.brand_id)
        return Response(await shipment_detail(db, shipment), status_code=201 if created else 200)

    @post("/shipments/{shipment_id:uuid}/receive", status_code=200)
    async def receive_my_shipment(
        self,
        request: Request[Any, Any, Any],
        shipment_id: FromPath[uuid.UUID],
        distributor: DistributorCaller,
        db: Db,
    ) -> ShipmentDetailOut:
        """Confirm that a shipment to the caller has arrived (idempotent)."""
        shipment = await shipments.receive_shipment(
            db, distributor.brand_id, shipment_id, Actor(distributor=distributor)
        )
        invalidate_positions_after_commit(request, db, distributor.brand_id)
        return await shipment_detail(db, shipment)

    @post("/aggregation/pack", status_code=200)
    async def pack_mine(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[PackIn],
        distributor: DistributorCaller,
        db: Db,
        idempotency_key: IdempotencyKey = None,
    ) -> AggregationResultOut:
        """Repack at the caller's place: like the admin pack, but the container must be at
        the caller (or new and empty; another is 404) and every child held by the caller
        (else a ``not_held_by_you`` failure). Idempotency keys are the caller's own."""
        return await pack_request(
            request,
            db,
            distributor.brand_id,
            data,
            None,
            own_key(distributor, idempotency_key),
            distributor.distributor_id,
        )

    @post("/aggregation/unpack", status_code=200)
    async def unpack_mine(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[UnpackIn],
        distributor: DistributorCaller,
        db: Db,
        idempotency_key: IdempotencyKey = None,
    ) -> AggregationResultOut:
        """Break a case or pallet that is at the caller's place (another is 404)."""
        return await unpack_request(
            request,
            db,
            distributor.brand_id,
            data,
            None,
            own_key(distributor, idempotency_key),
            distributor.distributor_id,
        )

    @post("/checks", status_code=200)
    async def check_code(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[CheckIn],
        distributor: DistributorCaller,
        db: Db,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> CheckOut:
        """Is this code, case or pallet genuine, and was it shipped to me? For a case or
        pallet also its contents (paginated). Read-only: never a consumer scan, never
        loyalty. On a mismatch only the fact is told, never the other distributor."""
        checker = unit_checker(request, distributor.brand_id)
        found = await whereabouts.identify(db, checker, code=data.code, sscc=data.sscc)
        if isinstance(found, str):
            return CheckOut(genuine=False, reason=found)
        current, _, _ = await whereabouts.current_of(db, distributor.brand_id, found)
        holder = current.distributor_id if current else None
        mine = holder == distributor.distributor_id
        contents = None
        if found.container is not None:
            items, total = await whereabouts.contents_page(
                db, checker, found.container, limit=limit, offset=offset
            )
            contents = ContentsOut(
                total=total,
                limit=limit,
                offset=offset,
                items=[ContentOut(kind=k, label=label) for k, label in items],
            )
        return CheckOut(
            genuine=True,
            kind=found.kind,
            gtin=found.gtin,
            product_name=found.product_name,
            lot=found.lot,
            label=container_label(found.container) if found.container else None,
            destination="you" if mine else ("brand" if holder is None else "another_distributor"),
            shipped_to_you=mine,
            received=current.received if mine and current else None,
            contents=contents,
        )
