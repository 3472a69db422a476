"""Reads: what a container holds and the aggregation history (EPCIS AggregationEvents)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from channel_control.logistics.aggregation.containers import container_label
from channel_control.logistics.models import (
    Aggregation,
    Container,
    ContainerKind,
)
from channel_control.logistics.units import (
    coalesce,
)

__all__ = ["AggregationRecord", "aggregation_history", "container_units"]


@dataclass(frozen=True, slots=True)
class AggregationRecord:
    """One aggregation period: ``child`` in ``parent`` from ``packed_at`` to ``unpacked_at``."""

    parent_id: uuid.UUID
    parent_kind: str
    parent_label: str
    child_code_start: int | None  # code_id range of items, or
    child_code_end: int | None
    child_container_id: uuid.UUID | None  # a case on a pallet
    packed_at: datetime
    packed_operation_id: uuid.UUID
    unpacked_at: datetime | None
    unpacked_operation_id: uuid.UUID | None


async def container_units(session: AsyncSession, container: Container) -> list[tuple[int, int]]:
    """The code_id ranges of items in a case now, or in all cases on a pallet now."""
    if container.kind == ContainerKind.CASE:
        parents = [container.id]
    else:
        parents = list(
            (
                await session.scalars(
                    select(Container.id).where(Container.parent_id == container.id)
                )
            ).all()
        )
    if not parents:
        return []
    rows = (
        await session.execute(
            select(Aggregation.child_start, Aggregation.child_end).where(
                Aggregation.parent_id.in_(parents),
                Aggregation.unpacked_at.is_(None),
                Aggregation.child_start.is_not(None),
            )
        )
    ).all()
    return coalesce((r.child_start, r.child_end) for r in rows)


async def aggregation_history(
    session: AsyncSession,
    brand_id: uuid.UUID,
    *,
    container_id: uuid.UUID | None = None,
    code_id: int | None = None,
) -> list[AggregationRecord]:
    """Every aggregation period of a container (as parent or as a case on a pallet) or of a
    unit (the cases it was in, and the pallets those cases were on), oldest first.

    The read function issue 6 exports as EPCIS AggregationEvents (ADD at ``packed_at``,
    DELETE at ``unpacked_at``; ``packed_operation_id`` groups the children of one event).
    """
    query = select(Aggregation).where(Aggregation.brand_id == brand_id)
    if container_id is not None:
        query = query.where(
            (Aggregation.parent_id == container_id)
            | (Aggregation.child_container_id == container_id)
        )
    elif code_id is not None:
        as_item = (
            await session.scalars(
                query.where(Aggregation.child_start <= code_id, Aggregation.child_end > code_id)
            )
        ).all()
        case_ids = {r.parent_id for r in as_item}
        on_pallets = (
            (await session.scalars(query.where(Aggregation.child_container_id.in_(case_ids)))).all()
            if case_ids
            else []
        )
        return await _records(session, [*as_item, *on_pallets])
    else:
        raise ValueError("give container_id or code_id")
    return await _records(session, list((await session.scalars(query)).all()))


async def _records(session: AsyncSession, rows: list[Aggregation]) -> list[AggregationRecord]:
    parents = {r.parent_id for r in rows}
    containers = (
        {
            c.id: c
            for c in (
                await session.scalars(select(Container).where(Container.id.in_(parents)))
            ).all()
        }
        if parents
        else {}
    )
    out = [
        AggregationRecord(
            parent_id=r.parent_id,
            parent_kind=containers[r.parent_id].kind,
            parent_label=container_label(containers[r.parent_id]),
            child_code_start=r.child_start,
            child_code_end=r.child_end,
            child_container_id=r.child_container_id,
            packed_at=r.packed_at,
            packed_operation_id=r.packed_op_id,
            unpacked_at=r.unpacked_at,
            unpacked_operation_id=r.unpacked_op_id,
        )
        for r in rows
    ]
    out.sort(key=lambda a: (a.packed_at, a.child_code_start or 0))
    return out
