"""Where is a code supposed to be, and how did it get there? The admin whereabouts view and
the distributor's authenticity check (issue 4 §5), both read-only.

The check never writes a scan and never touches loyalty: it reads the keyring, the roll
directory and the projection, nothing of the scan path.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from anticounterfeit.codes.format import encode_code, verify_code
from anticounterfeit.codes.identity import code_id_of, split_code_id
from anticounterfeit.gs1.digital_link import parse_digital_link
from anticounterfeit.gs1.sscc import normalize_sscc
from channel_control.logistics.aggregation import (
    AggregationRecord,
    aggregation_history,
    container_label,
    container_units,
)
from channel_control.logistics.destination import Position, current_position
from channel_control.logistics.models import Container, ContainerKind, Shipment, ShipmentLine
from channel_control.logistics.positions import container_position
from channel_control.logistics.units import UnitChecker
from kernel.errors import InvalidInput, NotFound

__all__ = [
    "ChainEntry",
    "Identified",
    "Whereabouts",
    "contents_page",
    "current_of",
    "identify",
    "shipment_chain",
    "whereabouts",
]


@dataclass(frozen=True, slots=True)
class Identified:
    """A code or SSCC recognised as the brand's item, case or pallet."""

    kind: str  # item | case | pallet
    code_id: int | None
    container: Container | None
    gtin: str | None
    product_name: str | None
    lot: str | None


@dataclass(frozen=True, slots=True)
class ChainEntry:
    shipment: Shipment
    via: str  # "unit" | "case" | "pallet": what the shipment carried
    via_label: str | None


@dataclass(frozen=True, slots=True)
class Whereabouts:
    identified: Identified
    current: Position | None
    case: Container | None
    pallet: Container | None
    chain: list[ChainEntry]
    aggregation: list[AggregationRecord]


async def identify(
    session: AsyncSession, checker: UnitChecker, *, code: str | None, sscc: str | None
) -> Identified | str:
    """The item, case or pallet named by a code (URL/path/element string) or an SSCC, or why
    not: ``not_genuine``, ``unknown_code`` (also another brand's code: no leak), ``void``,
    ``unknown_sscc``. Malformed input is a 422 naming ``code`` / ``sscc``."""
    if (code is None) == (sscc is None):
        raise InvalidInput("give exactly one of code or sscc", code="invalid_target", field="code")
    if sscc is not None:
        digits = normalize_sscc(sscc, field="sscc")
        container = await session.scalar(
            select(Container).where(
                Container.brand_id == checker.brand_id, Container.sscc == digits
            )
        )
        if container is None:
            return "unknown_sscc"
        return Identified(ContainerKind.PALLET, None, container, None, None, None)
    assert code is not None
    link = parse_digital_link(code, field="code")
    if not link.serial:
        raise InvalidInput("code has no serial (/21/)", code="invalid_digital_link", field="code")
    decoded = verify_code(checker.keyring, link.serial, link.gtin)
    if decoded is None:
        return "not_genuine"
    meta = await checker.metadata.roll_for(decoded.kid, decoded.index)
    if meta is None or meta.product.gtin != link.gtin or meta.brand_id != checker.brand_id:
        return "unknown_code"
    state = meta.state_of(decoded.index)
    if state.status == "void":
        return "void"
    code_id = code_id_of(decoded.kid, decoded.index)
    container = await session.scalar(select(Container).where(Container.code_id == code_id))
    return Identified(
        container.kind if container else "item",
        code_id,
        container,
        link.gtin,
        meta.product.name,
        state.batch.lot if state.batch else None,
    )


async def current_of(
    session: AsyncSession, brand_id: uuid.UUID, found: Identified
) -> tuple[Position | None, Container | None, Container | None]:
    """(where it is, its case now, its pallet now)."""
    if found.container is None:
        assert found.code_id is not None
        position, case_id, pallet_id = await current_position(session, brand_id, found.code_id)
        case = await session.get(Container, case_id) if case_id else None
        pallet = await session.get(Container, pallet_id) if pallet_id else None
        return position, case, pallet
    container = found.container
    pallet = await session.get(Container, container.parent_id) if container.parent_id else None
    return await container_position(session, container), None, pallet


def _during(at: datetime, start: datetime, end: datetime | None) -> bool:
    return start <= at and (end is None or at < end)


async def shipment_chain(
    session: AsyncSession,
    brand_id: uuid.UUID,
    found: Identified,
    periods: list[AggregationRecord],
) -> list[ChainEntry]:
    """Every shipment that carried the thing — itself, or a case/pallet it was in at the
    time — oldest first."""
    entries: list[ChainEntry] = []
    if found.container is None and found.code_id is not None:
        rows = (
            await session.execute(
                select(Shipment)
                .join(ShipmentLine, ShipmentLine.shipment_id == Shipment.id)
                .where(
                    Shipment.brand_id == brand_id,
                    ShipmentLine.code_start <= found.code_id,
                    ShipmentLine.code_end > found.code_id,
                )
            )
        ).scalars()
        entries.extend(ChainEntry(s, "unit", None) for s in rows)
    # Container periods: (container id, kind, label, [(start, end)]) for the thing itself ...
    windows: dict[uuid.UUID, tuple[str, str, list[tuple[datetime, datetime | None]]]] = {}
    if found.container is not None:
        windows[found.container.id] = (
            found.container.kind,
            container_label(found.container),
            [(found.container.created_at, None)],
        )
    case_periods = [p for p in periods if p.child_code_start is not None]
    for p in case_periods:  # ... the cases a unit was in ...
        windows.setdefault(p.parent_id, (p.parent_kind, p.parent_label, []))[2].append(
            (p.packed_at, p.unpacked_at)
        )
    for p in periods:  # ... and the pallets it (or its case) was on
        if p.child_container_id is None:
            continue
        outer = [(p.packed_at, p.unpacked_at)]
        if found.container is None:  # a unit: on the pallet only while also in that case
            outer = [
                (max(p.packed_at, c.packed_at), _min_end(p.unpacked_at, c.unpacked_at))
                for c in case_periods
                if c.parent_id == p.child_container_id
            ]
        windows.setdefault(p.parent_id, (p.parent_kind, p.parent_label, []))[2].extend(outer)
    if windows:
        rows2 = (
            await session.execute(
                select(Shipment, ShipmentLine.container_id)
                .join(ShipmentLine, ShipmentLine.shipment_id == Shipment.id)
                .where(Shipment.brand_id == brand_id, ShipmentLine.container_id.in_(list(windows)))
            )
        ).all()
        for shipment, container_id in rows2:
            if container_id is None:
                continue
            kind, label, spans = windows[container_id]
            if any(_during(shipment.shipped_at, a, b) for a, b in spans):
                entries.append(ChainEntry(shipment, kind, label))
    entries.sort(key=lambda e: e.shipment.shipped_at)
    return entries


def _min_end(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


async def whereabouts(
    session: AsyncSession, checker: UnitChecker, *, code: str | None, sscc: str | None
) -> Whereabouts:
    """Admin view of one code or SSCC; 404 ``unknown_code`` when it is not the brand's."""
    found = await identify(session, checker, code=code, sscc=sscc)
    if isinstance(found, str):
        raise NotFound("unknown code", code="unknown_code", field="sscc" if sscc else "code")
    brand_id = checker.brand_id
    current, case, pallet = await current_of(session, brand_id, found)
    if found.container is not None:
        periods = await aggregation_history(session, brand_id, container_id=found.container.id)
        periods = [
            p for p in periods if p.child_container_id == found.container.id
        ]  # its own pallet periods; its contents are not its history
    else:
        assert found.code_id is not None
        periods = await aggregation_history(session, brand_id, code_id=found.code_id)
    chain = await shipment_chain(session, brand_id, found, periods)
    return Whereabouts(found, current, case, pallet, chain, periods)


async def contents_page(
    session: AsyncSession, checker: UnitChecker, container: Container, *, limit: int, offset: int
) -> tuple[list[tuple[str, str]], int]:
    """One page of what a container holds now: (kind, label) — item codes as Digital Link
    paths for a case, cases for a pallet — and the total."""
    if container.kind == ContainerKind.PALLET:
        query = select(Container).where(Container.parent_id == container.id)
        cases = (
            await session.scalars(
                query.order_by(Container.created_at, Container.id).offset(offset).limit(limit)
            )
        ).all()
        total = await session.scalar(
            select(func.count()).select_from(Container).where(Container.parent_id == container.id)
        )
        return [("case", container_label(c)) for c in cases], int(total or 0)
    ranges = await container_units(session, container)
    total = sum(hi - lo for lo, hi in ranges)
    out: list[tuple[str, str]] = []
    skip = offset
    for lo, hi in ranges:
        if len(out) >= limit:
            break
        if skip >= hi - lo:
            skip -= hi - lo
            continue
        for code_id in range(lo + skip, hi):
            if len(out) >= limit:
                break
            kid, index = split_code_id(code_id)
            key = checker.keyring.get(kid)
            meta = await checker.metadata.roll_for(kid, index)
            if key is None or meta is None:
                continue
            gtin = meta.product.gtin
            out.append(("item", f"/01/{gtin}/21/{encode_code(key, index, gtin)}"))
        skip = 0
    return out, total
