"""Pack: items into a case, cases onto a pallet."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from channel_control.logistics.aggregation.containers import (
    MAX_CODES_PER_CALL,
    MAX_RANGES_PER_CALL,
    ContainerRef,
    container_label,
    get_or_create,
)
from channel_control.logistics.aggregation.history import container_units
from channel_control.logistics.aggregation.operations import (
    Tally,
    begin,
    failure_out,
    range_fail,
    request_doc,
)
from channel_control.logistics.aggregation.projection import Projection, Span, holder
from channel_control.logistics.destination import Position
from channel_control.logistics.models import (
    Aggregation,
    AggregationOperation,
    Container,
    ContainerKind,
)
from channel_control.logistics.positions import (
    container_position,
    lock_brand_channel,
    position_of_row,
    set_container_position,
)
from channel_control.logistics.units import (
    Failure,
    Piece,
    RangeInput,
    UnitChecker,
    coalesce,
)
from kernel.audit import record_audit
from kernel.auth import Principal
from kernel.db import utcnow
from kernel.errors import InvalidInput, NotFound

__all__ = ["check_sizes", "close_pieces", "finish", "pack", "take_case_off"]


async def pack(
    session: AsyncSession,
    checker: UnitChecker,
    actor: Principal | None,
    *,
    container: ContainerRef,
    kind: str,
    codes: list[str],
    ranges: list[RangeInput],
    cases: list[ContainerRef],
    move: bool = False,
    idempotency_key: str | None = None,
    as_distributor: uuid.UUID | None = None,
) -> dict[str, Any]:
    """Pack items (into a case) or cases (onto a pallet). ``move`` takes children out of the
    container they are in now (repack); without it they are ``already_packed`` failures.

    ``as_distributor``: a distributor repacking in its own warehouse — the container must be
    at that distributor (or new and empty: another one is a 404) and every child held by it
    (else a ``not_held_by_you`` failure)."""
    brand_id = checker.brand_id
    check_sizes(kind, codes, ranges, cases)
    request = request_doc(container, codes, ranges, cases, kind=kind, move=move)
    await lock_brand_channel(session, brand_id)
    begun = await begin(session, brand_id, "pack", idempotency_key, request, actor)
    if isinstance(begun, dict):
        return begun
    operation = begun
    target = await get_or_create(session, checker, container, kind, "container")
    if isinstance(target, Failure):
        raise InvalidInput(target.detail, code=target.code, field=target.field)
    if as_distributor is not None:
        await _check_distributor_container(session, target, as_distributor)
    now = utcnow()
    tally = Tally(must_hold=as_distributor)
    if kind == ContainerKind.CASE:
        await _pack_items(session, checker, operation, target, codes, ranges, move, now, tally)
    else:
        await _pack_cases(session, checker, operation, target, cases, move, now, tally)
    return await finish(session, actor, operation, "pack", target, tally)


async def _check_distributor_container(
    session: AsyncSession, container: Container, distributor_id: uuid.UUID
) -> None:
    """A distributor works only on containers at its place, or on new, empty ones."""
    where = await container_position(session, container)
    if holder(where) == distributor_id:
        return
    empty = where is None and not (await container_units(session, container))
    if container.kind == ContainerKind.PALLET:
        empty = empty and not (
            await session.scalar(select(Container.id).where(Container.parent_id == container.id))
        )
    if not empty:
        raise NotFound("no such case or pallet", code="container_not_found", field="container")


def check_sizes(
    kind: str, codes: list[str], ranges: list[RangeInput], cases: list[ContainerRef]
) -> None:
    if kind not in (ContainerKind.CASE, ContainerKind.PALLET):
        raise InvalidInput("kind must be case or pallet", code="invalid_kind", field="kind")
    if len(codes) > MAX_CODES_PER_CALL:
        raise InvalidInput(
            f"at most {MAX_CODES_PER_CALL} codes per call", code="too_many_codes", field="codes"
        )
    if len(ranges) > MAX_RANGES_PER_CALL or len(cases) > MAX_CODES_PER_CALL:
        raise InvalidInput("too many ranges or cases in one call", code="too_many", field="ranges")
    if kind == ContainerKind.CASE and cases:
        raise InvalidInput(
            "a case holds items (codes, ranges); cases go onto a pallet",
            code="wrong_child_kind",
            field="cases",
        )
    if kind == ContainerKind.PALLET and (codes or ranges):
        raise InvalidInput(
            "a pallet holds cases; pack items into a case first",
            code="wrong_child_kind",
            field="codes" if codes else "ranges",
        )


async def finish(
    session: AsyncSession,
    actor: Principal | None,
    operation: AggregationOperation,
    action: str,
    target: Container,
    tally: Tally,
) -> dict[str, Any]:
    result = {
        "operation_id": str(operation.id),
        "action": action,
        "container": {
            "id": str(target.id),
            "kind": target.kind,
            "label": container_label(target),
        },
        "units": tally.units,
        "containers": tally.containers,
        "unchanged": tally.unchanged,
        "failures": tally.failures,
        "replayed": False,
    }
    operation.result = result
    record_audit(
        session,
        actor,
        f"aggregation.{action}",
        target_type="container",
        target_id=target.id,
        brand_id=target.brand_id,
        details={
            "operation_id": str(operation.id),
            "units": tally.units,
            "containers": tally.containers,
            "failures": len(tally.failures),
            **({"distributor_id": str(tally.must_hold)} if tally.must_hold else {}),
        },
    )
    await session.flush()
    return result


async def _pack_items(
    session: AsyncSession,
    checker: UnitChecker,
    operation: AggregationOperation,
    case: Container,
    codes: list[str],
    ranges: list[RangeInput],
    move: bool,
    now: datetime,
    tally: Tally,
) -> None:
    brand_id = checker.brand_id
    inputs, _, failures = await checker.resolve(codes, ranges)
    tally.failures.extend(failure_out(f) for f in failures)
    here = await container_position(session, case)
    projection = await Projection.load(session, brand_id, [(lo, hi) for lo, hi, _, _ in inputs])
    positions: dict[uuid.UUID, Position | None] = {}
    to_pack: list[tuple[int, int]] = []
    to_leave: dict[int, tuple[Aggregation, list[tuple[int, int]]]] = {}
    for lo, hi, text, fieldname in inputs:
        span = projection.at(lo)
        for s_lo, s_hi in _item_segments(span, lo, hi, text, fieldname, tally):
            for piece in span.open_pieces(s_lo, s_hi):
                row = piece.value
                if row is not None and row.parent_id == case.id:
                    tally.unchanged += piece.end - piece.start
                    continue
                if row is not None and not move:
                    range_fail(
                        tally,
                        text,
                        fieldname,
                        "already_packed",
                        f"packed in container {row.parent_id}; pack with move=true to repack",
                        piece.start,
                        piece.end,
                    )
                    continue
                places = await _current_places(session, span, piece, positions)
                for c_lo, c_hi, where in places:
                    if tally.must_hold is not None and holder(where) != tally.must_hold:
                        range_fail(
                            tally,
                            text,
                            fieldname,
                            "not_held_by_you",
                            "these items are not at your place",
                            c_lo,
                            c_hi,
                        )
                        continue
                    if here is None and where is not None and not tally.units:
                        set_container_position(case, where)  # a new case is where its items are
                        here = where
                    if holder(where) != holder(here):
                        range_fail(
                            tally,
                            text,
                            fieldname,
                            "held_elsewhere",
                            "the items are at another holder than the container",
                            c_lo,
                            c_hi,
                        )
                        continue
                    if row is not None:
                        to_leave.setdefault(row.id, (row, []))[1].append((c_lo, c_hi))
                    to_pack.append((c_lo, c_hi))
                    tally.units += c_hi - c_lo
    await close_pieces(session, to_leave, operation.id, now)
    await _insert_item_rows(session, brand_id, case, operation, now, to_pack)


async def _insert_item_rows(
    session: AsyncSession,
    brand_id: uuid.UUID,
    case: Container,
    operation: AggregationOperation,
    now: datetime,
    to_pack: list[tuple[int, int]],
) -> None:
    """One aggregation row per contiguous run of the items packed into ``case``."""
    rows = [
        {
            "brand_id": brand_id,
            "parent_id": case.id,
            "child_start": lo,
            "child_end": hi,
            "packed_at": now,
            "packed_op_id": operation.id,
        }
        for lo, hi in coalesce(to_pack)
    ]
    if rows:
        await session.execute(insert(Aggregation), rows)


def _item_segments(
    span: Span, lo: int, hi: int, text: str, fieldname: str, tally: Tally
) -> list[tuple[int, int]]:
    """``[lo, hi)`` without the codes of cases and pallets in it (each of those a failure:
    container codes are not items)."""
    segments: list[tuple[int, int]] = []
    at = lo
    for c in span.containers_in(lo, hi):
        if c > at:
            segments.append((at, c))
        range_fail(
            tally, text, fieldname, "is_container", "this code is a case or pallet", c, c + 1
        )
        at = c + 1
    if at < hi:
        segments.append((at, hi))
    return segments


async def _current_places(
    session: AsyncSession,
    span: Span,
    piece: Piece[Aggregation],
    positions: dict[uuid.UUID, Position | None],
) -> list[tuple[int, int, Position | None]]:
    """Where the units of ``piece`` are now: at their old container's place, or, loose, at
    their own (``positions`` remembers containers already looked up)."""
    row = piece.value
    if row is None:
        return [(p.start, p.end, p.value) for p in span.own_pieces(piece.start, piece.end)]
    if row.parent_id not in positions:
        old = await session.get(Container, row.parent_id)
        positions[row.parent_id] = await container_position(session, old) if old else None
    return [(piece.start, piece.end, positions[row.parent_id])]


async def close_pieces(
    session: AsyncSession,
    leaving: dict[int, tuple[Aggregation, list[tuple[int, int]]]],
    operation_id: uuid.UUID,
    now: datetime,
) -> None:
    """End the given pieces of open item rows. Each row shrinks to its first leaving piece
    and is stamped unpacked; its other leaving pieces become unpacked rows and what stays
    packed becomes open rows, all keeping the row's ``packed_at`` (history stays exact)."""
    new_rows: list[dict[str, Any]] = []
    for row, parts in leaving.values():
        parts.sort()
        base = {
            "brand_id": row.brand_id,
            "parent_id": row.parent_id,
            "packed_at": row.packed_at,
            "packed_op_id": row.packed_op_id,
        }
        at = row.child_start or 0
        for lo, hi in parts:
            if at < lo:
                new_rows.append({**base, "child_start": at, "child_end": lo})
            at = hi
        if at < (row.child_end or 0):
            new_rows.append({**base, "child_start": at, "child_end": row.child_end})
        new_rows.extend(
            {
                **base,
                "child_start": lo,
                "child_end": hi,
                "unpacked_at": now,
                "unpacked_op_id": operation_id,
            }
            for lo, hi in parts[1:]
        )
        first_lo, first_hi = parts[0]
        await session.execute(
            update(Aggregation)
            .where(Aggregation.id == row.id)
            .values(
                child_start=first_lo,
                child_end=first_hi,
                unpacked_at=now,
                unpacked_op_id=operation_id,
            )
            .execution_options(synchronize_session=False)
        )
    # Open pieces, then closed ones: one executemany needs one column set.
    for closed in (False, True):
        batch = [r for r in new_rows if ("unpacked_at" in r) == closed]
        if batch:
            await session.execute(insert(Aggregation), batch)


async def _pack_cases(
    session: AsyncSession,
    checker: UnitChecker,
    operation: AggregationOperation,
    pallet: Container,
    cases: list[ContainerRef],
    move: bool,
    now: datetime,
    tally: Tally,
) -> None:
    here = await container_position(session, pallet)
    seen: set[uuid.UUID] = set()
    for i, ref in enumerate(cases):
        fieldname = f"cases[{i}]"
        shown = ref.code or ref.sscc or ""
        got = await _case_for_pallet(session, checker, ref, fieldname, pallet, move, seen, tally)
        if got is None:
            continue
        where = await container_position(session, got)
        if tally.must_hold is not None and holder(where) != tally.must_hold:
            tally.failures.append(
                failure_out(
                    Failure(shown, fieldname, "not_held_by_you", "this case is not at your place")
                )
            )
            continue
        if here is None and where is not None and not tally.containers:
            set_container_position(pallet, where)
            here = where
        if holder(where) != holder(here):
            tally.failures.append(
                failure_out(
                    Failure(
                        shown,
                        fieldname,
                        "held_elsewhere",
                        "the case is at another holder than the pallet",
                    )
                )
            )
            continue
        if got.parent_id is not None:
            await take_case_off(session, got, where, operation.id, now)
        got.parent_id = pallet.id
        session.add(
            Aggregation(
                brand_id=pallet.brand_id,
                parent_id=pallet.id,
                child_container_id=got.id,
                packed_at=now,
                packed_op_id=operation.id,
            )
        )
        tally.containers += 1
    await session.flush()


async def _case_for_pallet(
    session: AsyncSession,
    checker: UnitChecker,
    ref: ContainerRef,
    fieldname: str,
    pallet: Container,
    move: bool,
    seen: set[uuid.UUID],
    tally: Tally,
) -> Container | None:
    """The case ``ref`` names, if it may go onto ``pallet``; else ``None``, with the failure (or
    the harmless replay) counted in ``tally``."""
    shown = ref.code or ref.sscc or ""
    try:
        got = await get_or_create(session, checker, ref, ContainerKind.CASE, fieldname)
    except InvalidInput as exc:
        tally.failures.append(failure_out(Failure(shown, fieldname, exc.code, exc.detail)))
        return None
    if isinstance(got, Failure):
        tally.failures.append(failure_out(got))
        return None
    if got.id in seen:
        tally.failures.append(
            failure_out(Failure(shown, fieldname, "duplicate_in_request", "listed twice"))
        )
        return None
    seen.add(got.id)
    if got.parent_id == pallet.id:
        tally.unchanged += 1
        return None
    if got.parent_id is not None and not move:
        tally.failures.append(
            failure_out(
                Failure(
                    shown,
                    fieldname,
                    "already_packed",
                    f"on another pallet ({got.parent_id}); pack with move=true to repack",
                )
            )
        )
        return None
    return got


async def take_case_off(
    session: AsyncSession,
    case: Container,
    where: Position | None,
    operation_id: uuid.UUID,
    now: datetime,
) -> None:
    """Close the case's open pallet row; the case keeps the pallet's place (if newer)."""
    await session.execute(
        update(Aggregation)
        .where(Aggregation.child_container_id == case.id, Aggregation.unpacked_at.is_(None))
        .values(unpacked_at=now, unpacked_op_id=operation_id)
        .execution_options(synchronize_session=False)
    )
    own = position_of_row(case, "case")
    if where is not None and (own is None or own.moved_at < where.moved_at):
        set_container_position(case, where)
    case.parent_id = None
