"""Unpack: items or cases out of a container; what leaves keeps the container's place."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from channel_control.logistics.aggregation.containers import ContainerRef, find_container
from channel_control.logistics.aggregation.operations import (
    Tally,
    begin,
    failure_out,
    range_fail,
    request_doc,
)
from channel_control.logistics.aggregation.pack import (
    check_sizes,
    close_pieces,
    finish,
    take_case_off,
)
from channel_control.logistics.aggregation.projection import Projection, holder
from channel_control.logistics.models import (
    Aggregation,
    Container,
    ContainerKind,
)
from channel_control.logistics.positions import (
    container_position,
    inherit_unit_positions,
    lock_brand_channel,
    newest,
)
from channel_control.logistics.units import (
    Failure,
    RangeInput,
    UnitChecker,
)
from kernel.auth import Principal
from kernel.db import utcnow
from kernel.errors import InvalidInput, NotFound

__all__ = ["unpack"]


async def unpack(
    session: AsyncSession,
    checker: UnitChecker,
    actor: Principal | None,
    *,
    container: ContainerRef,
    codes: list[str],
    ranges: list[RangeInput],
    cases: list[ContainerRef],
    everything: bool,
    idempotency_key: str | None = None,
    as_distributor: uuid.UUID | None = None,
) -> dict[str, Any]:
    """Take the given children (or, with ``everything``, all) out of a case or pallet. They
    stay where the container is (the container's position is copied onto them)."""
    brand_id = checker.brand_id
    if everything == bool(codes or ranges or cases):
        raise InvalidInput(
            "give either all=true or the codes/ranges/cases to take out",
            code="invalid_unpack",
            field="all",
        )
    target = await find_container(session, checker, container)
    check_sizes(target.kind, codes, ranges, cases)
    request = request_doc(container, codes, ranges, cases, all=everything)
    await lock_brand_channel(session, brand_id)
    begun = await begin(session, brand_id, "unpack", idempotency_key, request, actor)
    if isinstance(begun, dict):
        return begun
    operation = begun
    now = utcnow()
    tally = Tally(must_hold=as_distributor)
    where = await container_position(session, target)
    if as_distributor is not None and holder(where) != as_distributor:
        raise NotFound("no such case or pallet", code="container_not_found", field="container")
    if target.kind == ContainerKind.CASE:
        if everything:
            leaving = await _empty_case(session, target, operation.id, now)
        else:
            leaving = await _items_out_of_case(
                session, checker, target, codes, ranges, tally, operation.id, now
            )
        tally.units += sum(hi - lo for lo, hi in leaving)
        if where is not None:
            await inherit_unit_positions(session, brand_id, leaving, where)
    else:
        if everything:
            children = list(
                (
                    await session.scalars(select(Container).where(Container.parent_id == target.id))
                ).all()
            )
        else:
            children = await _cases_on_pallet(session, checker, target, cases, tally)
        for child in children:
            await take_case_off(session, child, newest(where), operation.id, now)
            tally.containers += 1
        await session.flush()
    return await finish(session, actor, operation, "unpack", target, tally)


async def _empty_case(
    session: AsyncSession, target: Container, operation_id: uuid.UUID, now: datetime
) -> list[tuple[int, int]]:
    """Close every open item row of a case; the code ranges that left it."""
    spans = (
        await session.execute(
            select(Aggregation.child_start, Aggregation.child_end).where(
                Aggregation.parent_id == target.id,
                Aggregation.unpacked_at.is_(None),
                Aggregation.child_start.is_not(None),
            )
        )
    ).all()
    await session.execute(
        update(Aggregation)
        .where(
            Aggregation.parent_id == target.id,
            Aggregation.unpacked_at.is_(None),
            Aggregation.child_start.is_not(None),
        )
        .values(unpacked_at=now, unpacked_op_id=operation_id)
        .execution_options(synchronize_session=False)
    )
    return [(r.child_start or 0, r.child_end or 0) for r in spans]


async def _items_out_of_case(
    session: AsyncSession,
    checker: UnitChecker,
    target: Container,
    codes: list[str],
    ranges: list[RangeInput],
    tally: Tally,
    operation_id: uuid.UUID,
    now: datetime,
) -> list[tuple[int, int]]:
    """Take the named codes and ranges out of a case; a part not in it is a failure."""
    leaving: list[tuple[int, int]] = []
    inputs, _, failures = await checker.resolve(codes, ranges)
    tally.failures.extend(failure_out(f) for f in failures)
    projection = await Projection.load(
        session, checker.brand_id, [(lo, hi) for lo, hi, _, _ in inputs]
    )
    by_row: dict[int, tuple[Aggregation, list[tuple[int, int]]]] = {}
    for lo, hi, text, fieldname in inputs:
        for piece in projection.at(lo).open_pieces(lo, hi):
            if piece.value is None or piece.value.parent_id != target.id:
                range_fail(
                    tally,
                    text,
                    fieldname,
                    "not_in_container",
                    "not packed in this container",
                    piece.start,
                    piece.end,
                )
                continue
            by_row.setdefault(piece.value.id, (piece.value, []))[1].append((piece.start, piece.end))
            leaving.append((piece.start, piece.end))
    await close_pieces(session, by_row, operation_id, now)
    return leaving


async def _cases_on_pallet(
    session: AsyncSession,
    checker: UnitChecker,
    target: Container,
    cases: list[ContainerRef],
    tally: Tally,
) -> list[Container]:
    """The named cases that are on this pallet; each other one is a failure."""
    children: list[Container] = []
    for i, ref in enumerate(cases):
        fieldname = f"cases[{i}]"
        try:
            child = await find_container(session, checker, ref, field=fieldname)
        except (InvalidInput, NotFound) as exc:
            tally.failures.append(
                failure_out(Failure(ref.code or ref.sscc or "", fieldname, exc.code, exc.detail))
            )
            continue
        if child.parent_id != target.id:
            tally.failures.append(
                failure_out(
                    Failure(
                        ref.code or ref.sscc or "",
                        fieldname,
                        "not_in_container",
                        "not on this pallet",
                    )
                )
            )
            continue
        children.append(child)
    return children
