"""Aggregation: items packed into cases, cases onto pallets; unpack and repack.

Bulk calls take thousands of codes (explicit list or roll ranges) and answer per input:
what was packed, what was already there (a replay is harmless), and a failure with a stable
code for each code or sub-range that could not be applied — never a silent drop, never the
whole call failing for one bad code. Ranges are stored as ranges (one row per contiguous
run). Rows are never deleted: unpacking stamps ``unpacked_at`` (splitting a row when only part
of it leaves), which is the history ``aggregation_history`` reads (issue 6 exports it as
EPCIS AggregationEvents).

Units keep their place when they leave a container: unpacking copies the container's
position onto what leaves it (unless the unit's own is newer), so a pallet shipped to D1 and
unpacked there leaves its cases at D1.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from bisect import bisect_left, bisect_right
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from anticounterfeit.codes.identity import split_code_id
from anticounterfeit.gs1.sscc import normalize_sscc
from channel_control.logistics.destination import Position
from channel_control.logistics.models import (
    Aggregation,
    AggregationOperation,
    Container,
    ContainerKind,
)
from channel_control.logistics.positions import (
    container_position,
    dense_groups,
    inherit_unit_positions,
    lock_brand_channel,
    newest,
    open_aggregations,
    position_of_row,
    set_container_position,
    unit_position_rows,
)
from channel_control.logistics.units import (
    Failure,
    ItemCode,
    Piece,
    RangeInput,
    UnitChecker,
    coalesce,
    pieces,
)
from kernel.audit import record_audit
from kernel.auth import Principal
from kernel.db import utcnow
from kernel.errors import Conflict, InvalidInput, NotFound

__all__ = [
    "MAX_CODES_PER_CALL",
    "AggregationRecord",
    "ContainerRef",
    "aggregation_history",
    "container_units",
    "find_container",
    "pack",
    "unpack",
]

MAX_CODES_PER_CALL = 10_000
MAX_RANGES_PER_CALL = 1_000


@dataclass(frozen=True, slots=True)
class ContainerRef:
    """A case or pallet: its issued code (Digital Link) or, for a pallet, its SSCC."""

    code: str | None = None
    sscc: str | None = None


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


def container_label(container: Container) -> str:
    """How people name a container: its SSCC, or ``(01)gtin(21)serial``."""
    if container.sscc:
        return container.sscc
    return f"(01){container.gtin}(21){container.serial}"


# ---------------------------------------------------------------------------------------------
# Containers
# ---------------------------------------------------------------------------------------------
async def _container_by_ref(
    session: AsyncSession, checker: UnitChecker, ref: ContainerRef, field: str
) -> tuple[Container | None, ItemCode | None, str | None]:
    """(existing container, the verified code if given by code, the SSCC if given by SSCC)."""
    if (ref.code is None) == (ref.sscc is None):
        raise InvalidInput(
            f"{field} needs exactly one of code or sscc", code="invalid_container", field=field
        )
    if ref.sscc is not None:
        sscc = normalize_sscc(ref.sscc, field=f"{field}.sscc")
        found = await session.scalar(
            select(Container).where(Container.brand_id == checker.brand_id, Container.sscc == sscc)
        )
        return found, None, sscc
    assert ref.code is not None
    got = await checker.code(ref.code, f"{field}.code")
    if isinstance(got, Failure):
        raise InvalidInput(
            f"{got.field}: {got.detail}", code=f"container_{got.code}", field=got.field
        )
    found = await session.scalar(select(Container).where(Container.code_id == got.code_id))
    return found, got, None


async def find_container(
    session: AsyncSession, checker: UnitChecker, ref: ContainerRef, *, field: str = "container"
) -> Container:
    """An existing container of the brand; 404 ``container_not_found`` otherwise."""
    found, _, _ = await _container_by_ref(session, checker, ref, field)
    if found is None or found.brand_id != checker.brand_id:
        raise NotFound("no such case or pallet", code="container_not_found", field=field)
    return found


async def _get_or_create(
    session: AsyncSession, checker: UnitChecker, ref: ContainerRef, kind: str, field: str
) -> Container | Failure:
    found, code, sscc = await _container_by_ref(session, checker, ref, field)
    shown = ref.code or ref.sscc or ""
    if found is not None:
        if found.kind != kind:
            return Failure(shown, field, "wrong_kind", f"this is a {found.kind}, not a {kind}")
        return found
    if sscc is not None and kind != ContainerKind.PALLET:
        return Failure(shown, field, "wrong_kind", "an SSCC identifies a pallet, not a case")
    if code is not None and await open_aggregations(
        session, checker.brand_id, code.code_id, code.code_id + 1
    ):
        return Failure(shown, field, "is_packed_item", "this code is packed as an item")
    container = Container(
        id=uuid.uuid4(),
        brand_id=checker.brand_id,
        kind=kind,
        code_id=code.code_id if code else None,
        gtin=code.gtin if code else None,
        serial=code.serial if code else None,
        sscc=sscc,
        created_at=utcnow(),
    )
    session.add(container)
    await session.flush()
    return container


# ---------------------------------------------------------------------------------------------
# Idempotent operations
# ---------------------------------------------------------------------------------------------
def _request_doc(
    container: ContainerRef,
    codes: list[str],
    ranges: list[RangeInput],
    cases: list[ContainerRef],
    **options: Any,
) -> dict[str, Any]:
    """The request as stored for idempotent replays (its hash is compared)."""
    return {
        "container": asdict(container),
        "codes": codes,
        "ranges": [asdict(r) for r in ranges],
        "cases": [asdict(c) for c in cases],
        **options,
    }


def _fingerprint(request: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()


async def _begin(
    session: AsyncSession,
    brand_id: uuid.UUID,
    action: str,
    idempotency_key: str | None,
    request: dict[str, Any],
    actor: Principal | None,
) -> AggregationOperation | dict[str, Any]:
    """A new operation row, or the stored result of the same earlier request (a replay)."""
    digest = _fingerprint({"action": action, **request})
    if idempotency_key is not None:
        existing = await session.scalar(
            select(AggregationOperation).where(
                AggregationOperation.brand_id == brand_id,
                AggregationOperation.idempotency_key == idempotency_key,
            )
        )
        if existing is not None:
            if existing.request_sha256 != digest:
                raise Conflict(
                    "this Idempotency-Key was used for a different request",
                    code="idempotency_key_reused",
                    field="Idempotency-Key",
                )
            return {**existing.result, "replayed": True}
    operation = AggregationOperation(
        id=uuid.uuid4(),
        brand_id=brand_id,
        action=action,
        idempotency_key=idempotency_key,
        request_sha256=digest,
        result={},
        created_at=utcnow(),
        created_by=actor.subject if actor else None,
    )
    session.add(operation)
    try:
        await session.flush()
    except IntegrityError as exc:  # the same key raced in from another request
        raise Conflict(
            "a request with this Idempotency-Key is in progress; retry",
            code="idempotency_key_in_use",
            field="Idempotency-Key",
        ) from exc
    return operation


def _failure_out(failure: Failure, **extra: Any) -> dict[str, Any]:
    return {**asdict(failure), **extra}


@dataclass(slots=True)
class _Tally:
    must_hold: uuid.UUID | None = None  # a distributor acting: children must be at its place
    units: int = 0
    containers: int = 0
    unchanged: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)


def _range_fail(
    tally: _Tally, text: str, fieldname: str, code: str, detail: str, lo: int, hi: int
) -> None:
    kid, index = split_code_id(lo)
    tally.failures.append(
        _failure_out(Failure(text, fieldname, code, detail), count=hi - lo, kid=kid, index=index)
    )


# ---------------------------------------------------------------------------------------------
# Pack
# ---------------------------------------------------------------------------------------------
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
    _check_sizes(kind, codes, ranges, cases)
    request = _request_doc(container, codes, ranges, cases, kind=kind, move=move)
    await lock_brand_channel(session, brand_id)
    begun = await _begin(session, brand_id, "pack", idempotency_key, request, actor)
    if isinstance(begun, dict):
        return begun
    operation = begun
    target = await _get_or_create(session, checker, container, kind, "container")
    if isinstance(target, Failure):
        raise InvalidInput(target.detail, code=target.code, field=target.field)
    if as_distributor is not None:
        await _check_distributor_container(session, target, as_distributor)
    now = utcnow()
    tally = _Tally(must_hold=as_distributor)
    if kind == ContainerKind.CASE:
        await _pack_items(session, checker, operation, target, codes, ranges, move, now, tally)
    else:
        await _pack_cases(session, checker, operation, target, cases, move, now, tally)
    return await _finish(session, actor, operation, "pack", target, tally)


async def _check_distributor_container(
    session: AsyncSession, container: Container, distributor_id: uuid.UUID
) -> None:
    """A distributor works only on containers at its place, or on new, empty ones."""
    where = await container_position(session, container)
    if _holder(where) == distributor_id:
        return
    empty = where is None and not (await container_units(session, container))
    if container.kind == ContainerKind.PALLET:
        empty = empty and not (
            await session.scalar(select(Container.id).where(Container.parent_id == container.id))
        )
    if not empty:
        raise NotFound("no such case or pallet", code="container_not_found", field="container")


def _check_sizes(
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


async def _finish(
    session: AsyncSession,
    actor: Principal | None,
    operation: AggregationOperation,
    action: str,
    target: Container,
    tally: _Tally,
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


def _holder(position: Position | None) -> uuid.UUID | None:
    return position.distributor_id if position else None


@dataclass(slots=True)
class _Span:
    """The projection rows of one dense group of a request, loaded once."""

    container_codes: list[int]
    aggs: list[tuple[int, int, Aggregation]]
    agg_starts: list[int]
    own: list[tuple[int, int, Position]]
    own_starts: list[int]

    def open_pieces(self, lo: int, hi: int) -> list[Piece[Aggregation]]:
        return pieces(self.aggs, lo, hi, self.agg_starts)

    def own_pieces(self, lo: int, hi: int) -> list[Piece[Position]]:
        return pieces(self.own, lo, hi, self.own_starts)

    def containers_in(self, lo: int, hi: int) -> list[int]:
        return self.container_codes[
            bisect_left(self.container_codes, lo) : bisect_left(self.container_codes, hi)
        ]


class Projection:
    """Open aggregation rows, unit positions and container codes overlapping a request's
    ranges: a few range reads per dense group of runs instead of several queries per code
    (5,000 scattered codes took 60 s one by one)."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._spans: list[_Span] = []

    @classmethod
    async def load(
        cls, session: AsyncSession, brand_id: uuid.UUID, ranges: list[tuple[int, int]]
    ) -> Projection:
        found = cls()
        for group in dense_groups(coalesce(ranges)):
            lo, hi = group[0][0], group[-1][1]
            codes = (
                await session.scalars(
                    select(Container.code_id).where(Container.code_id >= lo, Container.code_id < hi)
                )
            ).all()
            rows = await open_aggregations(session, brand_id, lo, hi)
            aggs = [(r.child_start or 0, r.child_end or 0, r) for r in rows]
            own = await unit_position_rows(session, brand_id, lo, hi)
            found._starts.append(lo)
            found._spans.append(
                _Span(
                    sorted(c for c in codes if c is not None),
                    aggs,
                    [start for start, _, _ in aggs],
                    own,
                    [start for start, _, _ in own],
                )
            )
        return found

    def at(self, lo: int) -> _Span:
        """The span holding a run that starts at ``lo`` (every input lies in one run)."""
        return self._spans[bisect_right(self._starts, lo) - 1]


async def _pack_items(
    session: AsyncSession,
    checker: UnitChecker,
    operation: AggregationOperation,
    case: Container,
    codes: list[str],
    ranges: list[RangeInput],
    move: bool,
    now: datetime,
    tally: _Tally,
) -> None:
    brand_id = checker.brand_id
    inputs, _, failures = await checker.resolve(codes, ranges)
    tally.failures.extend(_failure_out(f) for f in failures)
    here = await container_position(session, case)
    projection = await Projection.load(session, brand_id, [(lo, hi) for lo, hi, _, _ in inputs])
    positions: dict[uuid.UUID, Position | None] = {}
    to_pack: list[tuple[int, int]] = []
    to_leave: dict[int, tuple[Aggregation, list[tuple[int, int]]]] = {}
    for lo, hi, text, fieldname in inputs:
        span = projection.at(lo)
        # Container codes are not items.
        segments: list[tuple[int, int]] = []
        at = lo
        for c in span.containers_in(lo, hi):
            if c > at:
                segments.append((at, c))
            _range_fail(
                tally, text, fieldname, "is_container", "this code is a case or pallet", c, c + 1
            )
            at = c + 1
        if at < hi:
            segments.append((at, hi))
        for s_lo, s_hi in segments:
            for piece in span.open_pieces(s_lo, s_hi):
                row = piece.value
                if row is not None and row.parent_id == case.id:
                    tally.unchanged += piece.end - piece.start
                    continue
                if row is not None and not move:
                    _range_fail(
                        tally,
                        text,
                        fieldname,
                        "already_packed",
                        f"packed in container {row.parent_id}; pack with move=true to repack",
                        piece.start,
                        piece.end,
                    )
                    continue
                # Where are these units now? In their old container, or loose at their own.
                if row is not None:
                    if row.parent_id not in positions:
                        old = await session.get(Container, row.parent_id)
                        positions[row.parent_id] = (
                            await container_position(session, old) if old else None
                        )
                    candidates = [(piece.start, piece.end, positions[row.parent_id])]
                else:
                    candidates = [
                        (p.start, p.end, p.value) for p in span.own_pieces(piece.start, piece.end)
                    ]
                for c_lo, c_hi, where in candidates:
                    if tally.must_hold is not None and _holder(where) != tally.must_hold:
                        _range_fail(
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
                    if _holder(where) != _holder(here):
                        _range_fail(
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
    await _close_pieces(session, to_leave, operation.id, now)
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


async def _close_pieces(
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
    tally: _Tally,
) -> None:
    here = await container_position(session, pallet)
    seen: set[uuid.UUID] = set()
    for i, ref in enumerate(cases):
        fieldname = f"cases[{i}]"
        shown = ref.code or ref.sscc or ""
        try:
            got = await _get_or_create(session, checker, ref, ContainerKind.CASE, fieldname)
        except InvalidInput as exc:
            tally.failures.append(_failure_out(Failure(shown, fieldname, exc.code, exc.detail)))
            continue
        if isinstance(got, Failure):
            tally.failures.append(_failure_out(got))
            continue
        if got.id in seen:
            tally.failures.append(
                _failure_out(Failure(shown, fieldname, "duplicate_in_request", "listed twice"))
            )
            continue
        seen.add(got.id)
        if got.parent_id == pallet.id:
            tally.unchanged += 1
            continue
        if got.parent_id is not None and not move:
            tally.failures.append(
                _failure_out(
                    Failure(
                        shown,
                        fieldname,
                        "already_packed",
                        f"on another pallet ({got.parent_id}); pack with move=true to repack",
                    )
                )
            )
            continue
        where = await container_position(session, got)
        if tally.must_hold is not None and _holder(where) != tally.must_hold:
            tally.failures.append(
                _failure_out(
                    Failure(shown, fieldname, "not_held_by_you", "this case is not at your place")
                )
            )
            continue
        if here is None and where is not None and not tally.containers:
            set_container_position(pallet, where)
            here = where
        if _holder(where) != _holder(here):
            tally.failures.append(
                _failure_out(
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
            await _take_case_off(session, got, where, operation.id, now)
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


async def _take_case_off(
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


# ---------------------------------------------------------------------------------------------
# Unpack
# ---------------------------------------------------------------------------------------------
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
    _check_sizes(target.kind, codes, ranges, cases)
    request = _request_doc(container, codes, ranges, cases, all=everything)
    await lock_brand_channel(session, brand_id)
    begun = await _begin(session, brand_id, "unpack", idempotency_key, request, actor)
    if isinstance(begun, dict):
        return begun
    operation = begun
    now = utcnow()
    tally = _Tally(must_hold=as_distributor)
    where = await container_position(session, target)
    if as_distributor is not None and _holder(where) != as_distributor:
        raise NotFound("no such case or pallet", code="container_not_found", field="container")
    if target.kind == ContainerKind.CASE:
        leaving: list[tuple[int, int]] = []
        if everything:
            spans = (
                await session.execute(
                    select(Aggregation.child_start, Aggregation.child_end).where(
                        Aggregation.parent_id == target.id,
                        Aggregation.unpacked_at.is_(None),
                        Aggregation.child_start.is_not(None),
                    )
                )
            ).all()
            leaving = [(r.child_start or 0, r.child_end or 0) for r in spans]
            await session.execute(
                update(Aggregation)
                .where(
                    Aggregation.parent_id == target.id,
                    Aggregation.unpacked_at.is_(None),
                    Aggregation.child_start.is_not(None),
                )
                .values(unpacked_at=now, unpacked_op_id=operation.id)
                .execution_options(synchronize_session=False)
            )
        else:
            inputs, _, failures = await checker.resolve(codes, ranges)
            tally.failures.extend(_failure_out(f) for f in failures)
            projection = await Projection.load(
                session, brand_id, [(lo, hi) for lo, hi, _, _ in inputs]
            )
            by_row: dict[int, tuple[Aggregation, list[tuple[int, int]]]] = {}
            for lo, hi, text, fieldname in inputs:
                for piece in projection.at(lo).open_pieces(lo, hi):
                    if piece.value is None or piece.value.parent_id != target.id:
                        _range_fail(
                            tally,
                            text,
                            fieldname,
                            "not_in_container",
                            "not packed in this container",
                            piece.start,
                            piece.end,
                        )
                        continue
                    by_row.setdefault(piece.value.id, (piece.value, []))[1].append(
                        (piece.start, piece.end)
                    )
                    leaving.append((piece.start, piece.end))
            await _close_pieces(session, by_row, operation.id, now)
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
            children = []
            for i, ref in enumerate(cases):
                fieldname = f"cases[{i}]"
                try:
                    child = await find_container(session, checker, ref, field=fieldname)
                except (InvalidInput, NotFound) as exc:
                    tally.failures.append(
                        _failure_out(
                            Failure(ref.code or ref.sscc or "", fieldname, exc.code, exc.detail)
                        )
                    )
                    continue
                if child.parent_id != target.id:
                    tally.failures.append(
                        _failure_out(
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
        for child in children:
            await _take_case_off(session, child, newest(where), operation.id, now)
            tally.containers += 1
        await session.flush()
    return await _finish(session, actor, operation, "unpack", target, tally)


# ---------------------------------------------------------------------------------------------
# Reads
# ---------------------------------------------------------------------------------------------
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
