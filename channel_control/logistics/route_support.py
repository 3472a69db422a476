"""What the logistics routes share: header and query types, request-to-service translation and
the cache invalidation that follows a move of goods."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from anticounterfeit.codes.identity import split_code_id
from channel_control.distributors.credentials import DistributorPrincipal
from channel_control.logistics import aggregation, shipments
from channel_control.logistics.destination import DestinationResolver
from channel_control.logistics.models import Shipment
from channel_control.logistics.schemas import (
    AggregationResultOut,
    ContainerBriefOut,
    DistributorShipmentCreate,
    LineOut,
    PackIn,
    ShipmentCreate,
    ShipmentDetailOut,
    ShipmentOut,
    UnpackIn,
)
from channel_control.logistics.shipments import ShipmentRequest
from channel_control.logistics.units import UnitChecker
from kernel.auth import Principal
from kernel.idempotency import idempotency_key_header
from kernel.uow import after_commit

__all__ = [
    "DistributorCaller",
    "IdempotencyKey",
    "ShipmentKindQ",
    "ShipmentStatusQ",
    "invalidate_positions_after_commit",
    "own_key",
    "pack_request",
    "shipment_detail",
    "shipment_out",
    "shipment_request",
    "unit_checker",
    "unpack_request",
]


IdempotencyKey = Annotated[str | None, idempotency_key_header(160)]
DistributorCaller = NamedDependency[DistributorPrincipal]
ShipmentKindQ = Literal["outbound", "transfer", "return"]
ShipmentStatusQ = Literal["in_transit", "received"]


def unit_checker(request: Request[Any, Any, Any], brand_id: uuid.UUID) -> UnitChecker:
    state = request.app.state
    return UnitChecker(state.keyring, state.metadata, brand_id)


def invalidate_positions_after_commit(
    request: Request[Any, Any, Any], db: AsyncSession, brand_id: uuid.UUID
) -> None:
    """Units moved: the scan path's cached destinations of the brand go once this commits."""
    resolver: DestinationResolver | None = getattr(request.app.state, "destinations", None)
    if resolver is not None:
        after_commit(db, lambda: resolver.invalidate_brand(brand_id))


async def shipment_out(db: AsyncSession, rows: list[Shipment]) -> list[ShipmentOut]:
    parties = await shipments.distributor_names(
        db, {p for s in rows for p in (s.from_distributor_id, s.to_distributor_id)}
    )
    return [ShipmentOut.of(s, parties) for s in rows]


async def shipment_detail(db: AsyncSession, shipment: Shipment) -> ShipmentDetailOut:
    (out,) = await shipment_out(db, [shipment])
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


async def pack_request(
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
        unit_checker(request, brand_id),
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
    invalidate_positions_after_commit(request, db, brand_id)
    return msgspec.convert(result, AggregationResultOut)


async def unpack_request(
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
        unit_checker(request, brand_id),
        actor,
        container=data.container.to_ref(),
        codes=list(data.codes),
        ranges=[r.to_range() for r in data.ranges],
        cases=[c.to_ref() for c in data.cases],
        everything=data.everything,
        idempotency_key=key,
        as_distributor=as_distributor,
    )
    invalidate_positions_after_commit(request, db, brand_id)
    return msgspec.convert(result, AggregationResultOut)


def own_key(distributor: DistributorPrincipal, key: str | None) -> str | None:
    """A distributor's idempotency keys live in their own namespace within the brand."""
    return f"d:{distributor.distributor_id}:{key}" if key else None


def shipment_request(
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
