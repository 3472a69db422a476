"""Shipments: factory outbound, distributor receipt, transfers between distributors, returns.

A shipment is a document: its ``document_number`` is the idempotency key within the brand
(same number and same content replays the shipment; same number, other content is a 409
naming ``document_number``). It carries loose items (as code_id ranges), cases and pallets;
units inside a case or pallet travel with it. The whole document is accepted or refused —
a refusal lists every failing input — because a half-applied delivery note matches no truck.

In the same transaction the shipment moves what it carries in the current-position
projection (``channel_control.positions``); ``DestinationResolver.invalidate_brand`` must be
called after the commit.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import Select, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from channel_control.distributors.models import Distributor
from channel_control.logistics.aggregation import (
    Projection,
    container_units,
    find_container,
)
from channel_control.logistics.destination import Position
from channel_control.logistics.models import (
    Container,
    Shipment,
    ShipmentLine,
    UnitPosition,
)
from channel_control.logistics.positions import (
    container_position,
    lock_brand_channel,
    set_container_position,
    set_unit_positions,
)
from channel_control.logistics.shipment_checks import Actor, ShipmentRequest, check_parties
from channel_control.logistics.units import Failure, UnitChecker, coalesce
from kernel.audit import AuditEntry, record_audit
from kernel.db import utcnow
from kernel.errors import Conflict, Forbidden, InvalidInput, NotFound
from kernel.pagination import fetch_page

__all__ = [
    "MAX_FAILURES_SHOWN",
    "Actor",
    "ShipmentRequest",
    "create_shipment",
    "get_shipment",
    "list_shipments",
    "receive_shipment",
    "shipment_lines",
]

MAX_FAILURES_SHOWN = 100


def _not_found() -> NotFound:
    return NotFound("shipment not found", code="shipment_not_found")


def _reject(failures: list[Failure]) -> InvalidInput:
    first = failures[0]
    return InvalidInput(
        f"{len(failures)} input(s) cannot be shipped; first: {first.field}: {first.detail}",
        code="shipment_rejected",
        field=first.field,
        extra={"failures": [asdict(f) for f in failures[:MAX_FAILURES_SHOWN]]},
    )


def _content_digest(
    req: ShipmentRequest, ranges: list[tuple[int, int]], containers: list[uuid.UUID]
) -> str:
    doc = {
        "kind": req.kind,
        "from": str(req.from_distributor_id),
        "to": str(req.to_distributor_id),
        "ranges": coalesce(ranges),
        "containers": sorted(str(c) for c in containers),
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


async def _resolve_containers(
    session: AsyncSession, checker: UnitChecker, req: ShipmentRequest, failures: list[Failure]
) -> list[Container]:
    containers: list[Container] = []
    seen: set[uuid.UUID] = set()
    for i, ref in enumerate(req.containers):
        fieldname = f"containers[{i}]"
        try:
            found = await find_container(session, checker, ref, field=fieldname)
        except (InvalidInput, NotFound) as exc:
            failures.append(Failure(ref.code or ref.sscc or "", fieldname, exc.code, exc.detail))
            continue
        if found.id in seen:
            failures.append(
                Failure(
                    ref.code or ref.sscc or "", fieldname, "duplicate_in_request", "listed twice"
                )
            )
            continue
        seen.add(found.id)
        containers.append(found)
    return containers


async def _replayed(
    session: AsyncSession, brand_id: uuid.UUID, req: ShipmentRequest, digest: str
) -> Shipment | None:
    existing = await session.scalar(
        select(Shipment).where(
            Shipment.brand_id == brand_id, Shipment.document_number == req.document_number
        )
    )
    if existing is not None and existing.content_sha256 != digest:
        raise Conflict(
            "this document number was used for a different shipment",
            code="document_number_reused",
            field="document_number",
        )
    return existing


async def _count_units(
    session: AsyncSession,
    brand_id: uuid.UUID,
    expected: uuid.UUID | None,
    inputs: list[tuple[int, int, str, str]],
    containers: list[Container],
) -> int:
    """Units carried; raises the refusal if any input is packed or held by someone else."""
    failures: list[Failure] = []
    units = 0
    projection = await Projection.load(session, brand_id, [(lo, hi) for lo, hi, _, _ in inputs])
    for lo, hi, text, fieldname in inputs:
        span = projection.at(lo)
        if any(p.value is not None for p in span.open_pieces(lo, hi)):
            failures.append(
                Failure(
                    text, fieldname, "packed", "packed in a case: ship the case, or unpack first"
                )
            )
            continue
        holders = {p.value.distributor_id if p.value else None for p in span.own_pieces(lo, hi)}
        if holders != {expected}:
            failures.append(Failure(text, fieldname, *_holder_failure(expected)))
            continue
        units += hi - lo
    for i, container in enumerate(containers):
        fieldname = f"containers[{i}]"
        label = container.sscc or container.serial or str(container.id)
        if container.parent_id is not None:
            failures.append(
                Failure(label, fieldname, "on_pallet", "on a pallet: ship the pallet, or unpack")
            )
            continue
        where = await container_position(session, container)
        if (where.distributor_id if where else None) != expected:
            failures.append(Failure(label, fieldname, *_holder_failure(expected)))
            continue
        units += sum(hi - lo for lo, hi in await container_units(session, container))
    if failures:
        raise _reject(failures)
    return units


async def _record(
    session: AsyncSession,
    brand_id: uuid.UUID,
    req: ShipmentRequest,
    actor: Actor,
    digest: str,
    units: int,
) -> Shipment:
    now = utcnow()
    shipment = Shipment(
        id=uuid.uuid4(),
        brand_id=brand_id,
        document_number=req.document_number,
        kind=req.kind,
        from_distributor_id=req.from_distributor_id,
        to_distributor_id=req.to_distributor_id,
        status="in_transit",
        content_sha256=digest,
        unit_count=units,
        note=req.note,
        shipped_at=now,
        created_by=actor.admin.subject
        if actor.admin
        else actor.distributor.subject
        if actor.distributor
        else None,
        created_via="distributor" if actor.distributor else "admin",
    )
    session.add(shipment)
    await session.flush()
    return shipment


async def _move_goods(
    session: AsyncSession,
    brand_id: uuid.UUID,
    shipment: Shipment,
    ranges: list[tuple[int, int]],
    containers: list[Container],
) -> None:
    for lo, hi in ranges:
        session.add(ShipmentLine(shipment_id=shipment.id, code_start=lo, code_end=hi))
    for container in containers:
        session.add(ShipmentLine(shipment_id=shipment.id, container_id=container.id))
    await session.flush()
    now = shipment.shipped_at
    position = Position(
        distributor_id=shipment.to_distributor_id,
        shipment_id=shipment.id,
        document_number=shipment.document_number,
        shipped_at=now,
        moved_at=now,
        received=False,
        source="shipment",
    )
    await set_unit_positions(session, brand_id, ranges, position)
    for container in containers:
        set_container_position(container, position)


async def create_shipment(
    session: AsyncSession, checker: UnitChecker, req: ShipmentRequest, actor: Actor
) -> tuple[Shipment, bool]:
    """Record the shipment and move what it carries; (shipment, created). A replay of the
    same document returns the existing shipment with created False."""
    brand_id = checker.brand_id
    await check_parties(session, brand_id, req, actor)
    await lock_brand_channel(session, brand_id)
    inputs, _, failures = await checker.resolve(req.codes, req.ranges)
    containers = await _resolve_containers(session, checker, req, failures)
    if failures:
        raise _reject(failures)
    digest = _content_digest(req, [(lo, hi) for lo, hi, _, _ in inputs], [c.id for c in containers])
    existing = await _replayed(session, brand_id, req, digest)
    if existing is not None:
        return existing, False
    expected = req.from_distributor_id
    units = await _count_units(session, brand_id, expected, inputs, containers)
    shipment = await _record(session, brand_id, req, actor, digest, units)
    ranges = coalesce((lo, hi) for lo, hi, _, _ in inputs)
    await _move_goods(session, brand_id, shipment, ranges, containers)
    _audit(
        session,
        actor,
        "shipment.created",
        shipment,
        {
            "document_number": shipment.document_number,
            "kind": shipment.kind,
            "from": str(shipment.from_distributor_id),
            "to": str(shipment.to_distributor_id),
            "units": units,
        },
    )
    await session.flush()
    return shipment, True


def _holder_failure(expected: uuid.UUID | None) -> tuple[str, str]:
    if expected is None:
        return "not_at_brand", "already shipped to a distributor (transfer it, or return it first)"
    return "not_held_by_sender", "not held by the sending distributor"


def _audit(
    session: AsyncSession, actor: Actor, action: str, shipment: Shipment, details: dict[str, Any]
) -> None:
    if actor.distributor is None:
        record_audit(
            session,
            actor.admin,
            action,
            target_type="shipment",
            target_id=shipment.id,
            brand_id=shipment.brand_id,
            details=details,
        )
        return
    session.add(
        AuditEntry(
            at=utcnow(),
            actor_id=actor.distributor.subject,
            actor_name=f"distributor:{actor.distributor.name}"[:100],
            brand_id=shipment.brand_id,
            action=action,
            target_type="shipment",
            target_id=str(shipment.id),
            details={**details, "distributor_id": str(actor.distributor.distributor_id)},
        )
    )


def _visible(query: Select[Any], distributor_id: uuid.UUID | None) -> Select[Any]:
    if distributor_id is None:
        return query
    return query.where(
        or_(
            Shipment.from_distributor_id == distributor_id,
            Shipment.to_distributor_id == distributor_id,
        )
    )


async def get_shipment(
    session: AsyncSession,
    brand_id: uuid.UUID,
    shipment_id: uuid.UUID,
    *,
    visible_to: uuid.UUID | None = None,
) -> Shipment:
    """The brand's shipment (for a distributor: only one to or from it); 404 otherwise."""
    found: Shipment | None = await session.scalar(
        _visible(
            select(Shipment).where(Shipment.id == shipment_id, Shipment.brand_id == brand_id),
            visible_to,
        )
    )
    if found is None:
        raise _not_found()
    return found


async def list_shipments(
    session: AsyncSession,
    brand_id: uuid.UUID,
    *,
    visible_to: uuid.UUID | None = None,
    distributor_id: uuid.UUID | None = None,
    kind: str | None = None,
    status: str | None = None,
    document_number: str | None = None,
    shipped_from: datetime | None = None,
    shipped_until: datetime | None = None,
    limit: int,
    offset: int,
) -> tuple[list[Shipment], int]:
    """The brand's shipments, newest first, with filters; a distributor sees its own only."""
    query = _visible(select(Shipment).where(Shipment.brand_id == brand_id), visible_to)
    if distributor_id is not None:
        query = query.where(
            or_(
                Shipment.from_distributor_id == distributor_id,
                Shipment.to_distributor_id == distributor_id,
            )
        )
    if kind is not None:
        query = query.where(Shipment.kind == kind)
    if status is not None:
        query = query.where(Shipment.status == status)
    if document_number is not None:
        query = query.where(Shipment.document_number == document_number)
    if shipped_from is not None:
        query = query.where(Shipment.shipped_at >= shipped_from)
    if shipped_until is not None:
        query = query.where(Shipment.shipped_at < shipped_until)
    query = query.order_by(Shipment.shipped_at.desc(), Shipment.id)
    return await fetch_page(session, query, limit=limit, offset=offset)


async def shipment_lines(
    session: AsyncSession, shipment_id: uuid.UUID
) -> list[tuple[ShipmentLine, Container | None]]:
    """A shipment's lines with their containers."""
    rows = (
        await session.execute(
            select(ShipmentLine, Container)
            .outerjoin(Container, Container.id == ShipmentLine.container_id)
            .where(ShipmentLine.shipment_id == shipment_id)
            .order_by(ShipmentLine.id)
        )
    ).all()
    return [(line, container) for line, container in rows]


async def receive_shipment(
    session: AsyncSession, brand_id: uuid.UUID, shipment_id: uuid.UUID, actor: Actor
) -> Shipment:
    """Confirm arrival (idempotent). Distributors confirm shipments to themselves; a return
    is confirmed by the brand."""
    visible_to = actor.distributor.distributor_id if actor.distributor else None
    shipment = await get_shipment(session, brand_id, shipment_id, visible_to=visible_to)
    if actor.distributor is not None and shipment.to_distributor_id != visible_to:
        raise Forbidden("only the receiving side confirms a shipment", code="not_the_receiver")
    if shipment.status == "received":
        return shipment
    shipment.status = "received"
    shipment.received_at = utcnow()
    shipment.received_by = (
        actor.admin.subject
        if actor.admin
        else actor.distributor.subject
        if actor.distributor
        else None
    )
    for table in (UnitPosition, Container):
        await session.execute(
            update(table)
            .where(table.shipment_id == shipment.id)
            .values(received=True)
            .execution_options(synchronize_session=False)
        )
    _audit(
        session, actor, "shipment.received", shipment, {"document_number": shipment.document_number}
    )
    await session.flush()
    return shipment


async def distributor_names(
    session: AsyncSession, ids: set[uuid.UUID | None]
) -> dict[uuid.UUID, Distributor]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = (await session.scalars(select(Distributor).where(Distributor.id.in_(wanted)))).all()
    return {d.id: d for d in rows}
