"""Aggregation, shipments and whereabouts: the brand's API (``/v1/admin/...``) and the
distributor's (``/v1/distributor/shipments``, ``/v1/distributor/checks``).

Write handlers commit explicitly and only then invalidate the scan path's destination
cache, so no reader re-caches the old position.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from channel_control.logistics import aggregation, shipments, whereabouts
from channel_control.logistics.distributor_routes import DistributorShippingController
from channel_control.logistics.route_support import (
    IdempotencyKey,
    ShipmentKindQ,
    ShipmentStatusQ,
    invalidate_positions_after_commit,
    pack_request,
    shipment_detail,
    shipment_out,
    shipment_request,
    unit_checker,
    unpack_request,
)
from channel_control.logistics.schemas import (
    AggregationOut,
    AggregationResultOut,
    ChainOut,
    ContainerBriefOut,
    CurrentOut,
    PackIn,
    PartyOut,
    ShipmentCreate,
    ShipmentDetailOut,
    ShipmentPage,
    UnpackIn,
    WhereaboutsOut,
)
from channel_control.logistics.shipments import Actor
from kernel.errors import NotFound
from kernel.guards import BRAND_READ, BRAND_WRITE
from kernel.pagination import Limit, Offset
from kernel.tenancy import SECURITY, ActingBrand, Caller, Db, scoped_dependencies

__all__ = [
    "ROUTES",
    "AggregationController",
    "DistributorShippingController",
    "ShipmentController",
    "WhereaboutsController",
]


# ---------------------------------------------------------------------------------------------
# Admin: aggregation
# ---------------------------------------------------------------------------------------------
class AggregationController(Controller):
    path = "/v1/admin/aggregation"
    tags = ("channel",)
    security = SECURITY
    dependencies = scoped_dependencies()

    @post("/pack", status_code=200, guards=[BRAND_WRITE])
    async def pack(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[PackIn],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        idempotency_key: IdempotencyKey = None,
    ) -> AggregationResultOut:
        """Pack item ``codes``/``ranges`` into a case, or ``cases`` onto a pallet (bulk,
        thousands per call). Answers per input: ``units``/``containers`` packed, ``unchanged``
        (already there) and ``failures`` (``not_genuine``, ``unknown_code``, ``wrong_brand``,
        ``void``, ``already_packed``, ``held_elsewhere``, ``is_container``...). With an
        ``Idempotency-Key`` a replay returns the first answer (``replayed: true``)."""
        return await pack_request(request, db, acting_brand, data, principal, idempotency_key)

    @post("/unpack", status_code=200, guards=[BRAND_WRITE])
    async def unpack(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[UnpackIn],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        idempotency_key: IdempotencyKey = None,
    ) -> AggregationResultOut:
        """Take items out of a case or cases off a pallet (or ``all``); they stay where the
        container is. Same per-input answer and idempotency as pack."""
        return await unpack_request(request, db, acting_brand, data, principal, idempotency_key)

    @get("/history", guards=[BRAND_READ])
    async def get_aggregation_history(
        self,
        request: Request[Any, Any, Any],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        code: Annotated[str | None, QueryParameter(max_length=300)] = None,
        sscc: Annotated[str | None, QueryParameter(max_length=100)] = None,
    ) -> list[AggregationOut]:
        """Aggregation periods of a container (``code`` of a case/pallet or ``sscc``) or of
        an item ``code``: what was packed where, when, and when it came out."""
        found = await whereabouts.identify(
            db, unit_checker(request, acting_brand), code=code, sscc=sscc
        )
        if isinstance(found, str):
            raise NotFound("unknown code", code="unknown_code", field="sscc" if sscc else "code")
        if found.container is not None:
            records = await aggregation.aggregation_history(
                db, acting_brand, container_id=found.container.id
            )
        else:
            records = await aggregation.aggregation_history(db, acting_brand, code_id=found.code_id)
        return [AggregationOut.of(r) for r in records]


# ---------------------------------------------------------------------------------------------
# Admin: shipments and whereabouts
# ---------------------------------------------------------------------------------------------
class ShipmentController(Controller):
    path = "/v1/admin/shipments"
    tags = ("channel",)
    security = SECURITY
    dependencies = scoped_dependencies()

    @post("/", guards=[BRAND_WRITE])
    async def create_shipment(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[ShipmentCreate],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
    ) -> Response[ShipmentDetailOut]:
        """Record a shipment (outbound, transfer or return) and move what it carries. The
        ``document_number`` is the idempotency key: the same document again is 200 with the
        same shipment; the same number with other content is 409 (field ``document_number``).
        A document whose inputs cannot all ship is 422 ``shipment_rejected`` listing them."""
        shipment, created = await shipments.create_shipment(
            db,
            unit_checker(request, acting_brand),
            shipment_request(data, data.from_distributor_id),
            Actor(admin=principal),
        )
        invalidate_positions_after_commit(request, db, acting_brand)
        return Response(await shipment_detail(db, shipment), status_code=201 if created else 200)

    @get("/", guards=[BRAND_READ])
    async def list_shipments(
        self,
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        distributor_id: FromQuery[uuid.UUID | None] = None,
        kind: FromQuery[ShipmentKindQ | None] = None,
        status: FromQuery[ShipmentStatusQ | None] = None,
        document_number: Annotated[str | None, QueryParameter(max_length=100)] = None,
        shipped_from: FromQuery[datetime | None] = None,
        shipped_until: FromQuery[datetime | None] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> ShipmentPage:
        """The brand's shipments, newest first; filter by distributor (either side), kind,
        status, document number or shipping time."""
        rows, total = await shipments.list_shipments(
            db,
            acting_brand,
            distributor_id=distributor_id,
            kind=kind,
            status=status,
            document_number=document_number,
            shipped_from=shipped_from,
            shipped_until=shipped_until,
            limit=limit,
            offset=offset,
        )
        return ShipmentPage(
            items=await shipment_out(db, rows), total=total, limit=limit, offset=offset
        )

    @get("/{shipment_id:uuid}", guards=[BRAND_READ])
    async def get_shipment(
        self, shipment_id: FromPath[uuid.UUID], principal: Caller, acting_brand: ActingBrand, db: Db
    ) -> ShipmentDetailOut:
        """One shipment with its lines (ranges, cases, pallets)."""
        return await shipment_detail(
            db, await shipments.get_shipment(db, acting_brand, shipment_id)
        )

    @post("/{shipment_id:uuid}/receive", status_code=200, guards=[BRAND_WRITE])
    async def receive_shipment(
        self,
        request: Request[Any, Any, Any],
        shipment_id: FromPath[uuid.UUID],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
    ) -> ShipmentDetailOut:
        """Confirm arrival on the receiver's behalf (and of returns at the brand); idempotent."""
        shipment = await shipments.receive_shipment(
            db, acting_brand, shipment_id, Actor(admin=principal)
        )
        invalidate_positions_after_commit(request, db, acting_brand)
        return await shipment_detail(db, shipment)


class WhereaboutsController(Controller):
    path = "/v1/admin/whereabouts"
    tags = ("channel",)
    security = SECURITY
    dependencies = scoped_dependencies()

    @get("/", guards=[BRAND_READ])
    async def get_whereabouts(
        self,
        request: Request[Any, Any, Any],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        code: Annotated[str | None, QueryParameter(max_length=300)] = None,
        sscc: Annotated[str | None, QueryParameter(max_length=100)] = None,
    ) -> WhereaboutsOut:
        """Where a code (item, case) or SSCC (pallet) is supposed to be: current holder and
        territory, its case and pallet now, the chain of shipments that carried it (itself or
        inside a case/pallet) and its aggregation history."""
        found = await whereabouts.whereabouts(
            db, unit_checker(request, acting_brand), code=code, sscc=sscc
        )
        current = None
        if found.current is not None:
            parties = await shipments.distributor_names(db, {found.current.distributor_id})
            holder = (
                parties.get(found.current.distributor_id) if found.current.distributor_id else None
            )
            current = CurrentOut(
                distributor=PartyOut.of(holder),
                territory=dict(holder.territory or {}) if holder else None,
                shipment_id=found.current.shipment_id,
                document_number=found.current.document_number,
                shipped_at=found.current.shipped_at,
                received=found.current.received,
                via=found.current.source,
            )
        ident = found.identified
        return WhereaboutsOut(
            kind=ident.kind,
            gtin=ident.gtin,
            product_name=ident.product_name,
            lot=ident.lot,
            container=ContainerBriefOut.of(ident.container) if ident.container else None,
            units=sum(hi - lo for lo, hi in await aggregation.container_units(db, ident.container))
            if ident.container
            else None,
            current=current,
            case=ContainerBriefOut.of(found.case) if found.case else None,
            pallet=ContainerBriefOut.of(found.pallet) if found.pallet else None,
            shipments=[
                ChainOut(
                    shipment_id=e.shipment.id,
                    document_number=e.shipment.document_number,
                    kind=e.shipment.kind,
                    from_distributor_id=e.shipment.from_distributor_id,
                    to_distributor_id=e.shipment.to_distributor_id,
                    shipped_at=e.shipment.shipped_at,
                    status=e.shipment.status,
                    via=e.via,
                    via_label=e.via_label,
                )
                for e in found.chain
            ],
            aggregation=[AggregationOut.of(r) for r in found.aggregation],
        )


ROUTES: list[Any] = [
    AggregationController,
    ShipmentController,
    WhereaboutsController,
    DistributorShippingController,
]
