"""Aggregation, shipments and whereabouts: the brand's API (``/v1/admin/...``) and the
distributor's (``/v1/distributor/shipments``, ``/v1/distributor/checks``).

Write handlers commit explicitly and only then invalidate the scan path's destination
cache, so no reader re-caches the old position.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from anticounterfeit.codes.identity import split_code_id
from channel_control.distributors.auth import provide_distributor_principal
from channel_control.distributors.credentials import DistributorPrincipal
from channel_control.logistics import aggregation, shipments, whereabouts
from channel_control.logistics.aggregation import container_label
from channel_control.logistics.destination import DestinationResolver
from channel_control.logistics.models import Shipment
from channel_control.logistics.schemas import (
    AggregationOut,
    AggregationResultOut,
    ChainOut,
    CheckIn,
    CheckOut,
    ContainerBriefOut,
    ContentOut,
    ContentsOut,
    CurrentOut,
    DistributorShipmentCreate,
    LineOut,
    PackIn,
    PartyOut,
    ShipmentCreate,
    ShipmentDetailOut,
    ShipmentOut,
    ShipmentPage,
    UnpackIn,
    WhereaboutsOut,
)
from channel_control.logistics.shipments import Actor, ShipmentRequest
from channel_control.logistics.units import UnitChecker
from kernel.auth import Principal
from kernel.errors import NotFound
from kernel.guards import BRAND_READ, BRAND_WRITE
from kernel.pagination import Limit, Offset
from kernel.tenancy import SECURITY, ActingBrand, Caller, Db, scoped_dependencies
from kernel.uow import after_commit

__all__ = [
    "ROUTES",
    "AggregationController",
    "DistributorShippingController",
    "ShipmentController",
    "WhereaboutsController",
]


IdempotencyKey = Annotated[
    str | None, HeaderParameter(name="Idempotency-Key", min_length=1, max_length=160)
]
DistributorCaller = NamedDependency[DistributorPrincipal]
ShipmentKindQ = Literal["outbound", "transfer", "return"]
ShipmentStatusQ = Literal["in_transit", "received"]


def _checker(request: Request[Any, Any, Any], brand_id: uuid.UUID) -> UnitChecker:
    state = request.app.state
    return UnitChecker(state.keyring, state.metadata, brand_id)


def _invalidate_positions_after_commit(
    request: Request[Any, Any, Any], db: AsyncSession, brand_id: uuid.UUID
) -> None:
    """Units moved: the scan path's cached destinations of the brand go once this commits."""
    resolver: DestinationResolver | None = getattr(request.app.state, "destinations", None)
    if resolver is not None:
        after_commit(db, lambda: resolver.invalidate_brand(brand_id))


async def _shipment_out(db: AsyncSession, rows: list[Shipment]) -> list[ShipmentOut]:
    parties = await shipments.distributor_names(
        db, {p for s in rows for p in (s.from_distributor_id, s.to_distributor_id)}
    )
    return [ShipmentOut.of(s, parties) for s in rows]


async def _detail(db: AsyncSession, shipment: Shipment) -> ShipmentDetailOut:
    (out,) = await _shipment_out(db, [shipment])
    lines: list[LineOut] = []
    for line, container in await shipments.shipment_lines(db, shipment.id):
        if container is not None:
            kind: Literal["case", "pallet"] = "pallet" if container.kind == "pallet" else "case"
            lines.append(LineOut(kind=kind, container=ContainerBriefOut.of(container)))
        elif line.code_start is not None and line.code_end is not None:
            kid, index = split_code_id(line.code_start)
            lines.append(
                LineOut(
                    kind="range", kid=kid, first_index=index, count=line.code_end - line.code_start
                )
            )
    return ShipmentDetailOut(shipment=out, lines=lines)


async def _pack(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    brand_id: uuid.UUID,
    data: PackIn,
    actor: Principal | None,
    key: str | None,
    as_distributor: uuid.UUID | None = None,
) -> AggregationResultOut:
    result = await aggregation.pack(
        db,
        _checker(request, brand_id),
        actor,
        container=data.container.to_ref(),
        kind=data.kind,
        codes=list(data.codes),
        ranges=[r.to_range() for r in data.ranges],
        cases=[c.to_ref() for c in data.cases],
        move=data.move,
        idempotency_key=key,
        as_distributor=as_distributor,
    )
    _invalidate_positions_after_commit(request, db, brand_id)
    return msgspec.convert(result, AggregationResultOut)


async def _unpack(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    brand_id: uuid.UUID,
    data: UnpackIn,
    actor: Principal | None,
    key: str | None,
    as_distributor: uuid.UUID | None = None,
) -> AggregationResultOut:
    result = await aggregation.unpack(
        db,
        _checker(request, brand_id),
        actor,
        container=data.container.to_ref(),
        codes=list(data.codes),
        ranges=[r.to_range() for r in data.ranges],
        cases=[c.to_ref() for c in data.cases],
        everything=data.everything,
        idempotency_key=key,
        as_distributor=as_distributor,
    )
    _invalidate_positions_after_commit(request, db, brand_id)
    return msgspec.convert(result, AggregationResultOut)


def _own_key(distributor: DistributorPrincipal, key: str | None) -> str | None:
    """A distributor's idempotency keys live in their own namespace within the brand."""
    return f"d:{distributor.distributor_id}:{key}" if key else None


def _request(
    data: ShipmentCreate | DistributorShipmentCreate, from_id: uuid.UUID | None
) -> ShipmentRequest:
    return ShipmentRequest(
        document_number=data.document_number,
        kind=data.kind,
        from_distributor_id=from_id,
        to_distributor_id=data.to_distributor_id,
        codes=list(data.codes),
        ranges=[r.to_range() for r in data.ranges],
        containers=[c.to_ref() for c in data.containers],
        note=data.note,
    )


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
        return await _pack(request, db, acting_brand, data, principal, idempotency_key)

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
        return await _unpack(request, db, acting_brand, data, principal, idempotency_key)

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
            db, _checker(request, acting_brand), code=code, sscc=sscc
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
            _checker(request, acting_brand),
            _request(data, data.from_distributor_id),
            Actor(admin=principal),
        )
        _invalidate_positions_after_commit(request, db, acting_brand)
        return Response(await _detail(db, shipment), status_code=201 if created else 200)

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
            items=await _shipment_out(db, rows), total=total, limit=limit, offset=offset
        )

    @get("/{shipment_id:uuid}", guards=[BRAND_READ])
    async def get_shipment(
        self, shipment_id: FromPath[uuid.UUID], principal: Caller, acting_brand: ActingBrand, db: Db
    ) -> ShipmentDetailOut:
        """One shipment with its lines (ranges, cases, pallets)."""
        return await _detail(db, await shipments.get_shipment(db, acting_brand, shipment_id))

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
        _invalidate_positions_after_commit(request, db, acting_brand)
        return await _detail(db, shipment)


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
            db, _checker(request, acting_brand), code=code, sscc=sscc
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
            items=await _shipment_out(db, rows), total=total, limit=limit, offset=offset
        )

    @get("/shipments/{shipment_id:uuid}")
    async def get_my_shipment(
        self, shipment_id: FromPath[uuid.UUID], distributor: DistributorCaller, db: Db
    ) -> ShipmentDetailOut:
        """One shipment to or from the caller; another distributor's is 404."""
        shipment = await shipments.get_shipment(
            db, distributor.brand_id, shipment_id, visible_to=distributor.distributor_id
        )
        return await _detail(db, shipment)

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
            _checker(request, distributor.brand_id),
            _request(data, distributor.distributor_id),
            Actor(distributor=distributor),
        )
        _invalidate_positions_after_commit(request, db, distributor.brand_id)
        return Response(await _detail(db, shipment), status_code=201 if created else 200)

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
        _invalidate_positions_after_commit(request, db, distributor.brand_id)
        return await _detail(db, shipment)

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
        return await _pack(
            request,
            db,
            distributor.brand_id,
            data,
            None,
            _own_key(distributor, idempotency_key),
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
        return await _unpack(
            request,
            db,
            distributor.brand_id,
            data,
            None,
            _own_key(distributor, idempotency_key),
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
        checker = _checker(request, distributor.brand_id)
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


ROUTES: list[Any] = [
    AggregationController,
    ShipmentController,
    WhereaboutsController,
    DistributorShippingController,
]
