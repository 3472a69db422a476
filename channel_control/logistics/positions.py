"""The current-position projection: reads and writes of ``unit_positions`` and container
positions, always in the caller's transaction (shipments and unpacks call these).

``unit_positions`` holds non-overlapping code_id ranges. Setting the position of [lo, hi)
trims the rows it overlaps (splitting one that spans it) and inserts one row, so a range
that travels a 10-level chain stays one row. Statements are Core, run in order: the ORM's
flush would insert before it deletes and trip the unique (brand_id, code_start) index.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from channel_control.logistics.destination import POSITION_FIELDS, Position, position_of_row
from channel_control.logistics.models import Aggregation, Container, UnitPosition
from channel_control.logistics.units import coalesce, pieces

__all__ = [
    "POSITION_FIELDS",
    "container_position",
    "dense_groups",
    "inherit_unit_positions",
    "lock_brand_channel",
    "newest",
    "open_aggregations",
    "position_of_row",
    "set_container_position",
    "set_unit_positions",
    "unit_position_rows",
]


# pg_advisory_xact_lock(namespace, key): the namespace keeps these locks apart from others.
_LOCK_NAMESPACE = 0x43430004


async def lock_brand_channel(session: AsyncSession, brand_id: uuid.UUID) -> None:
    """Serialise the brand's shipment and aggregation writes until the transaction ends.

    Every write checks where goods are, then moves them (lock, check, change): two
    concurrent shipments of the same units must not both pass the check. PostgreSQL: a
    transaction-scoped advisory lock per brand. SQLite: a write statement (matching no row)
    that opens the write transaction now, so the checks that follow read under the one
    writer's lock (pysqlite starts no transaction for plain SELECTs).
    """
    if session.get_bind().dialect.name != "postgresql":
        await session.execute(
            delete(UnitPosition).where(
                UnitPosition.brand_id == brand_id, UnitPosition.code_start < 0
            )
        )
        return
    key = int.from_bytes(brand_id.bytes[:4], "big", signed=True)
    await session.execute(
        text("SELECT pg_advisory_xact_lock(:ns, :key)"), {"ns": _LOCK_NAMESPACE, "key": key}
    )


def _values(position: Position) -> dict[str, Any]:
    return {name: getattr(position, name) for name in POSITION_FIELDS}


def newest(*positions: Position | None) -> Position | None:
    found = [p for p in positions if p is not None]
    return max(found, key=lambda p: p.moved_at) if found else None


# Runs of a request are handled in groups whose span is at most this many times the units
# they hold (plus a small slack): one range read per table per group then covers thousands of
# scattered codes, and what a read returns stays proportional to the request.
DENSITY = 64
SLACK = 4096


def dense_groups(runs: list[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    """Split sorted, disjoint runs into groups worth one span read each."""
    groups: list[list[tuple[int, int]]] = []
    units = 0
    for lo, hi in runs:
        if groups and hi - groups[-1][0][0] <= DENSITY * (units + hi - lo) + SLACK:
            groups[-1].append((lo, hi))
            units += hi - lo
        else:
            groups.append([(lo, hi)])
            units = hi - lo
    return groups


async def _unit_rows(
    session: AsyncSession, brand_id: uuid.UUID, lo: int, hi: int
) -> list[tuple[int, int, int, Position]]:
    """(id, start, end, position) of stored unit ranges overlapping [lo, hi), sorted."""
    columns = (
        UnitPosition.id,
        UnitPosition.code_start,
        UnitPosition.code_end,
        *(getattr(UnitPosition, f) for f in POSITION_FIELDS),
    )
    first = (
        await session.execute(
            select(*columns)
            .where(UnitPosition.brand_id == brand_id, UnitPosition.code_start <= lo)
            .order_by(UnitPosition.code_start.desc())
            .limit(1)
        )
    ).all()
    rest = (
        await session.execute(
            select(*columns)
            .where(
                UnitPosition.brand_id == brand_id,
                UnitPosition.code_start > lo,
                UnitPosition.code_start < hi,
            )
            .order_by(UnitPosition.code_start)
        )
    ).all()
    out: list[tuple[int, int, int, Position]] = []
    for row in (*first, *rest):
        if row.code_end <= lo:
            continue
        position = position_of_row(row, "unit")
        assert position is not None  # rows are only written with a shipment
        out.append((row.id, row.code_start, row.code_end, position))
    return out


async def unit_position_rows(
    session: AsyncSession, brand_id: uuid.UUID, lo: int, hi: int
) -> list[tuple[int, int, Position]]:
    """Stored unit positions overlapping [lo, hi), sorted (two index range reads)."""
    return [(s, e, p) for _, s, e, p in await _unit_rows(session, brand_id, lo, hi)]


async def set_unit_positions(
    session: AsyncSession, brand_id: uuid.UUID, ranges: list[tuple[int, int]], position: Position
) -> None:
    """Make ``position`` the stored position of every unit in ``ranges``: per dense group,
    one read, one delete of the rows it overlaps, one multi-row insert of the new rows and of
    the overlapped rows' parts outside ``ranges``."""
    for group in dense_groups(coalesce(ranges)):
        existing = await _unit_rows(session, brand_id, group[0][0], group[-1][1])
        covered = [(lo, hi, True) for lo, hi in group]
        covered_starts = [lo for lo, _ in group]
        doomed: list[int] = []
        rows: list[dict[str, Any]] = []
        for row_id, start, end, old in existing:
            parts = pieces(covered, start, end, covered_starts)
            if all(p.value is None for p in parts):
                continue  # in the span, but between the runs
            doomed.append(row_id)
            rows.extend(
                {"brand_id": brand_id, "code_start": p.start, "code_end": p.end, **_values(old)}
                for p in parts
                if p.value is None
            )
        rows.extend(
            {"brand_id": brand_id, "code_start": lo, "code_end": hi, **_values(position)}
            for lo, hi in group
        )
        for i in range(0, len(doomed), 500):
            await session.execute(
                delete(UnitPosition).where(UnitPosition.id.in_(doomed[i : i + 500]))
            )
        await session.execute(insert(UnitPosition), rows)


async def inherit_unit_positions(
    session: AsyncSession, brand_id: uuid.UUID, ranges: list[tuple[int, int]], position: Position
) -> None:
    """Units leaving a container at ``position`` keep it, unless their own is newer."""
    stale: list[tuple[int, int]] = []
    for group in dense_groups(coalesce(ranges)):
        stored = await unit_position_rows(session, brand_id, group[0][0], group[-1][1])
        starts = [start for start, _, _ in stored]
        for lo, hi in group:
            stale.extend(
                (p.start, p.end)
                for p in pieces(stored, lo, hi, starts)
                if p.value is None or p.value.moved_at < position.moved_at
            )
    if stale:
        await set_unit_positions(session, brand_id, stale, position)


def set_container_position(container: Container, position: Position) -> None:
    for name in POSITION_FIELDS:
        setattr(container, name, getattr(position, name))


async def container_position(session: AsyncSession, container: Container) -> Position | None:
    """Where a case or pallet is: the newer of its own position and its pallet's."""
    own = position_of_row(container, container.kind)
    if container.parent_id is None:
        return own
    parent = await session.get(Container, container.parent_id)
    return newest(own, position_of_row(parent, "pallet") if parent else None)


async def open_aggregations(
    session: AsyncSession, brand_id: uuid.UUID, lo: int, hi: int
) -> list[Aggregation]:
    """Open item-range aggregation rows overlapping [lo, hi), sorted by start."""
    first = (
        await session.scalars(
            select(Aggregation)
            .where(
                Aggregation.brand_id == brand_id,
                Aggregation.child_start <= lo,
                Aggregation.unpacked_at.is_(None),
            )
            .order_by(Aggregation.child_start.desc())
            .limit(1)
            .execution_options(populate_existing=True)
        )
    ).all()
    rest = (
        await session.scalars(
            select(Aggregation)
            .where(
                Aggregation.brand_id == brand_id,
                Aggregation.child_start > lo,
                Aggregation.child_start < hi,
                Aggregation.unpacked_at.is_(None),
            )
            .order_by(Aggregation.child_start)
            .execution_options(populate_existing=True)
        )
    ).all()
    return [a for a in (*first, *rest) if a.child_end is not None and a.child_end > lo]
