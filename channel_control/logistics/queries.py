"""Read-only channel questions of recalls and traces (issue 6): the ``ChannelSource`` of
``anticounterfeit.trace.ports`` (this module is that implementation; value types from there).

Who holds the units of some code ranges now — the current-position projection (a unit's own
position, its case's, its case's pallet's: the newest wins, as ``destination`` resolves a
single code), evaluated piecewise over ranges, so 10 million codes cost a handful of
index range reads, never a read per code.
"""

from __future__ import annotations

import itertools
import uuid
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from anticounterfeit.codes.format import Keyring
from anticounterfeit.codes.metadata import CodeMetadataService
from anticounterfeit.trace.ports import (
    IdentifiedContainer,
    PackingPeriod,
    RangePacking,
    RangeShipment,
    ShipmentFacts,
)
from channel_control.logistics import whereabouts
from channel_control.logistics.aggregation import container_label, container_units
from channel_control.logistics.destination import Position
from channel_control.logistics.models import Aggregation, Container, Shipment, ShipmentLine
from channel_control.logistics.positions import (
    container_position,
    newest,
    open_aggregations,
    unit_position_rows,
)
from channel_control.logistics.units import Piece, UnitChecker, coalesce, pieces

__all__ = [
    "RangePacking",
    "RangeShipment",
    "code_channel_history",
    "identify_container",
    "range_channel_history",
    "shipment_facts",
    "units_by_holder",
]


def _value_at(parts: list[Piece[Position]] | list[Piece[uuid.UUID]], at: int) -> object:
    i = bisect_right([p.start for p in parts], at) - 1
    return parts[i].value if i >= 0 and parts[i].end > at else None


async def units_by_holder(
    session: AsyncSession, brand_id: uuid.UUID, code_ranges: Iterable[tuple[int, int]]
) -> dict[uuid.UUID | None, int]:
    """Units of the half-open code_id ranges by current holder: a distributor id, or None for
    units shipped back to the brand. Units never shipped are not counted."""
    totals: dict[uuid.UUID | None, int] = defaultdict(int)
    case_positions: dict[uuid.UUID, Position | None] = {}
    for lo, hi in coalesce(code_ranges):
        own = pieces(await unit_position_rows(session, brand_id, lo, hi), lo, hi)
        cases = pieces(
            [
                (max(int(a.child_start or lo), lo), min(int(a.child_end or hi), hi), a.parent_id)
                for a in await open_aggregations(session, brand_id, lo, hi)
            ],
            lo,
            hi,
        )
        points = sorted({lo, hi, *(p.start for p in own), *(p.start for p in cases)})
        for start, end in itertools.pairwise(points):
            position = _value_at(own, start)
            case_id = _value_at(cases, start)
            if isinstance(case_id, uuid.UUID):
                if case_id not in case_positions:
                    case = await session.get(Container, case_id)
                    case_positions[case_id] = (
                        await container_position(session, case) if case else None
                    )
                position = newest(
                    position if isinstance(position, Position) else None,
                    case_positions[case_id],
                )
            if isinstance(position, Position):
                totals[position.distributor_id] += end - start
    return dict(totals)


def _overlap(lo: int, hi: int, ranges: list[tuple[int, int]]) -> int:
    return sum(max(0, min(hi, b) - max(lo, a)) for a, b in ranges)


def _active(row: Aggregation, at: datetime) -> bool:
    return row.packed_at <= at and (row.unpacked_at is None or at < row.unpacked_at)


@dataclass(frozen=True, slots=True)
class _Touching:
    """Aggregation rows of a range query: items' rows, their cases' rows on pallets, and the
    containers of both."""

    ranges: list[tuple[int, int]]
    item_rows: list[Aggregation]
    pallet_rows: list[Aggregation]
    containers: dict[uuid.UUID, Container]
    container_ids: set[uuid.UUID]

    @property
    def case_ids(self) -> set[uuid.UUID]:
        return {r.parent_id for r in self.item_rows}

    def label(self, container_id: uuid.UUID) -> str:
        return container_label(self.containers[container_id])

    def units_in(self, case_id: uuid.UUID, at: datetime) -> int:
        return sum(
            _overlap(int(r.child_start or 0), int(r.child_end or 0), self.ranges)
            for r in self.item_rows
            if r.parent_id == case_id and _active(r, at)
        )


async def _touching(
    session: AsyncSession, brand_id: uuid.UUID, ranges: list[tuple[int, int]]
) -> _Touching:
    touching = or_(
        *(and_(Aggregation.child_start < hi, Aggregation.child_end > lo) for lo, hi in ranges)
    )
    item_rows = list(
        (
            await session.scalars(
                select(Aggregation).where(Aggregation.brand_id == brand_id, touching)
            )
        ).all()
    )
    case_ids = {r.parent_id for r in item_rows}
    pallet_rows = (
        list(
            (
                await session.scalars(
                    select(Aggregation).where(
                        Aggregation.brand_id == brand_id,
                        Aggregation.child_container_id.in_(case_ids),
                    )
                )
            ).all()
        )
        if case_ids
        else []
    )
    container_ids = case_ids | {r.parent_id for r in pallet_rows}
    containers = (
        {
            c.id: c
            for c in (
                await session.scalars(select(Container).where(Container.id.in_(container_ids)))
            ).all()
        }
        if container_ids
        else {}
    )
    return _Touching(ranges, item_rows, pallet_rows, containers, container_ids)


def _range_packings(t: _Touching) -> list[RangePacking]:
    packings = [
        RangePacking(
            t.containers[r.parent_id].kind,
            t.label(r.parent_id),
            None,
            _overlap(int(r.child_start or 0), int(r.child_end or 0), t.ranges),
            r.packed_at,
            r.packed_op_id,
            r.unpacked_at,
            r.unpacked_op_id,
        )
        for r in t.item_rows
    ]
    for r in t.pallet_rows:
        assert r.child_container_id is not None
        units = t.units_in(r.child_container_id, r.packed_at)
        if units:
            packings.append(
                RangePacking(
                    t.containers[r.parent_id].kind,
                    t.label(r.parent_id),
                    t.label(r.child_container_id),
                    units,
                    r.packed_at,
                    r.packed_op_id,
                    r.unpacked_at,
                    r.unpacked_op_id,
                )
            )
    packings.sort(key=lambda p: p.packed_at)
    return packings


def shipment_facts(shipment: Shipment) -> ShipmentFacts:
    return ShipmentFacts(
        id=shipment.id,
        from_distributor_id=shipment.from_distributor_id,
        to_distributor_id=shipment.to_distributor_id,
        shipped_at=shipment.shipped_at,
        received_at=shipment.received_at,
    )


async def _range_shipments(
    session: AsyncSession, brand_id: uuid.UUID, t: _Touching
) -> list[RangeShipment]:
    line_touching = or_(
        *(and_(ShipmentLine.code_start < hi, ShipmentLine.code_end > lo) for lo, hi in t.ranges)
    )
    case_ids = t.case_ids
    carried: dict[uuid.UUID, int] = defaultdict(int)
    shipments: dict[uuid.UUID, Shipment] = {}
    for shipment, line in (
        await session.execute(
            select(Shipment, ShipmentLine)
            .join(ShipmentLine, ShipmentLine.shipment_id == Shipment.id)
            .where(
                Shipment.brand_id == brand_id,
                or_(line_touching, ShipmentLine.container_id.in_(t.container_ids)),
            )
        )
    ).all():
        shipments[shipment.id] = shipment
        at = shipment.shipped_at
        if line.container_id is None:
            carried[shipment.id] += _overlap(
                int(line.code_start or 0), int(line.code_end or 0), t.ranges
            )
        elif line.container_id in case_ids:
            carried[shipment.id] += t.units_in(line.container_id, at)
        else:  # a pallet: the cases on it at the time
            carried[shipment.id] += sum(
                t.units_in(r.child_container_id, at)
                for r in t.pallet_rows
                if r.parent_id == line.container_id
                and r.child_container_id is not None
                and _active(r, at)
            )
    moved = [
        RangeShipment(shipment_facts(shipments[s]), units)
        for s, units in carried.items()
        if units > 0
    ]
    moved.sort(key=lambda m: m.shipment.shipped_at)
    return moved


async def range_channel_history(
    session: AsyncSession, brand_id: uuid.UUID, code_ranges: Iterable[tuple[int, int]]
) -> tuple[list[RangePacking], list[RangeShipment]]:
    """Packing periods and shipments that touched units of the code_id ranges (for a batch's
    EPCIS export): index range reads on aggregations and shipment lines, never per code."""
    ranges = coalesce(code_ranges)
    if not ranges:
        return [], []
    touching = await _touching(session, brand_id, ranges)
    return _range_packings(touching), await _range_shipments(session, brand_id, touching)


async def identify_container(
    session: AsyncSession,
    keyring: Keyring,
    metadata: CodeMetadataService,
    brand_id: uuid.UUID,
    *,
    code: str | None,
    sscc: str | None,
) -> IdentifiedContainer | str | None:
    """The case or pallet a code or an SSCC names, with what it holds now; None for a unit;
    why not (``whereabouts.identify``'s reasons, ``void`` included) as text."""
    found = await whereabouts.identify(
        session, UnitChecker(keyring, metadata, brand_id), code=code, sscc=sscc
    )
    if isinstance(found, str):
        return found
    if found.container is None:
        return None
    container = found.container
    return IdentifiedContainer(
        kind=container.kind,
        label=container_label(container),
        code_ranges=await container_units(session, container),
    )


async def code_channel_history(
    session: AsyncSession,
    keyring: Keyring,
    metadata: CodeMetadataService,
    brand_id: uuid.UUID,
    code: str,
) -> tuple[list[PackingPeriod], list[ShipmentFacts]]:
    """One code's aggregation periods and the shipments that carried it (404 ``unknown_code``
    when it is not the brand's)."""
    history = await whereabouts.whereabouts(
        session, UnitChecker(keyring, metadata, brand_id), code=code, sscc=None
    )
    periods = [
        PackingPeriod(
            parent_id=p.parent_id,
            parent_label=p.parent_label,
            child_container_id=p.child_container_id,
            packed_at=p.packed_at,
            packed_operation_id=p.packed_operation_id,
            unpacked_at=p.unpacked_at,
            unpacked_operation_id=p.unpacked_operation_id,
        )
        for p in history.aggregation
    ]
    return periods, [shipment_facts(entry.shipment) for entry in history.chain]
