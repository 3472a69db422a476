"""Code rolls: issuance, export plans, lifecycle range events and admin code lookup.

A roll is one ``code_rolls`` row for ``count`` contiguous indexes under the brand's active key;
lifecycle changes are ``code_range_events`` rows covering ranges of a roll. Nothing here writes
a row per code. Services flush, never commit (``issue_roll_and_commit`` is the one explicit
unit-of-work helper, shared by the HTTP handler and the CLI, because an idempotency race can
only be resolved after a rollback). Callers invalidate the metadata cache after commit.
"""

from __future__ import annotations

import uuid
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import ColumnElement, and_, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from anticounterfeit.catalogue.models import Batch, Brand, BrandCodeKey, Product
from anticounterfeit.codes.export import (
    DEFAULT_CHUNK_SIZE,
    _chunk_ranges,
    _render_chunk,
    _validate,
    export_header,
    iter_export_csv,
)
from anticounterfeit.codes.format import INDEX_LIMIT, CodeKey, Keyring, verify_code
from anticounterfeit.codes.metadata import BatchFacts, ProductFacts, Segment, compile_segments
from anticounterfeit.codes.models import CodeRangeEvent, CodeRoll, RangeAction
from anticounterfeit.gs1.gtin import normalize_gtin
from kernel.audit import record_audit
from kernel.auth import Principal
from kernel.db import utcnow
from kernel.errors import Conflict, InvalidInput, NotFound

__all__ = [
    "MAX_ROLL_COUNT",
    "MAX_VOID_CODES",
    "CodeLookup",
    "CodeVoidResult",
    "ExportPlan",
    "IssueRequest",
    "IssueResult",
    "RollState",
    "activate_range",
    "bind_batch_range",
    "get_roll",
    "issue_roll",
    "issue_roll_and_commit",
    "list_rolls",
    "lookup_code",
    "plan_export",
    "product_of_gtin",
    "roll_state",
    "void_codes",
    "void_range",
]

MAX_ROLL_COUNT = 100_000_000
MAX_VOID_CODES = 10_000

CodeStatus = Literal["inactive", "active", "void"]
VoidOutcome = Literal["voided", "invalid_code", "not_found", "already_void"]


class _IdempotencyRace(Exception):
    """Another transaction inserted a roll with the same idempotency key first."""


# ---------------------------------------------------------------------------------------------
# Issuance
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class IssueRequest:
    """What a caller asks for; exactly one of product_id / gtin, at most one of batch_id / lot."""

    count: int
    product_id: uuid.UUID | None = None
    gtin: str | None = None
    batch_id: uuid.UUID | None = None
    lot: str | None = None
    activate: bool = False
    note: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class IssueResult:
    roll: CodeRoll
    created: bool  # False: an idempotent replay returned the roll made earlier


async def _product_for(session: AsyncSession, brand_id: uuid.UUID, req: IssueRequest) -> Product:
    if (req.product_id is None) == (req.gtin is None):
        raise InvalidInput(
            "give exactly one of product_id and gtin", code="product_required", field="product_id"
        )
    if req.product_id is not None:
        product = await session.get(Product, req.product_id)
        if product is None or product.brand_id != brand_id:
            raise InvalidInput("unknown product", code="unknown_product", field="product_id")
        return product
    gtin14 = normalize_gtin(req.gtin or "", field="gtin")
    product = await session.scalar(
        select(Product).where(Product.gtin == gtin14, Product.brand_id == brand_id)
    )
    if product is None:
        raise InvalidInput(
            "no product of this brand has this GTIN", code="unknown_product", field="gtin"
        )
    return product


async def _batch_of_product(
    session: AsyncSession,
    product: Product,
    *,
    batch_id: uuid.UUID | None = None,
    lot: str | None = None,
) -> Batch | None:
    if batch_id is not None and lot is not None:
        raise InvalidInput("give batch_id or lot, not both", code="batch_ambiguous", field="lot")
    if batch_id is not None:
        batch = await session.get(Batch, batch_id)
        if batch is None or batch.brand_id != product.brand_id or batch.product_id != product.id:
            raise InvalidInput(
                "unknown batch for this product", code="unknown_batch", field="batch_id"
            )
        return batch
    if lot is not None:
        batch = await session.scalar(
            select(Batch).where(
                Batch.brand_id == product.brand_id, Batch.product_id == product.id, Batch.lot == lot
            )
        )
        if batch is None:
            raise InvalidInput("unknown lot for this product", code="unknown_batch", field="lot")
        return batch
    return None


async def _issued_active(session: AsyncSession, roll: CodeRoll) -> bool:
    """Whether the roll was activated as part of its issuance (same timestamp, whole roll)."""
    found = await session.scalar(
        select(CodeRangeEvent.id).where(
            CodeRangeEvent.roll_id == roll.id,
            CodeRangeEvent.action == RangeAction.ACTIVATE,
            CodeRangeEvent.seq_start == 0,
            CodeRangeEvent.seq_end == roll.count,
            CodeRangeEvent.created_at == roll.created_at,
        )
    )
    return found is not None


async def issue_roll(
    session: AsyncSession,
    keyring: Keyring,
    actor: Principal | None,
    brand_id: uuid.UUID,
    req: IssueRequest,
) -> IssueResult:
    """Allocate ``count`` contiguous indexes from the brand's active key and record the roll.

    Idempotent per ``(brand, idempotency_key)``: the same request replays the existing roll,
    a different one is a 409 ``idempotency_key_reused``.
    """
    if not 1 <= req.count <= MAX_ROLL_COUNT:
        raise InvalidInput(
            f"count must be between 1 and {MAX_ROLL_COUNT}", code="invalid_count", field="count"
        )
    product = await _product_for(session, brand_id, req)
    batch = await _batch_of_product(session, product, batch_id=req.batch_id, lot=req.lot)
    batch_id = batch.id if batch else None
    if req.idempotency_key is not None:
        existing = await session.scalar(
            select(CodeRoll).where(
                CodeRoll.brand_id == brand_id, CodeRoll.idempotency_key == req.idempotency_key
            )
        )
        if existing is not None:
            same = (
                existing.product_id == product.id
                and existing.count == req.count
                and existing.batch_id == batch_id
                and existing.note == req.note
                and await _issued_active(session, existing) == req.activate
            )
            if not same:
                raise Conflict(
                    "this Idempotency-Key was used for a different request",
                    code="idempotency_key_reused",
                    field="Idempotency-Key",
                )
            return IssueResult(existing, created=False)

    # Atomic allocation: the row lock (PostgreSQL) / write lock (SQLite) serialises issuers,
    # and the WHERE clause refuses to run past the 40-bit index space.
    allocated = (
        await session.execute(
            update(BrandCodeKey)
            .where(
                BrandCodeKey.brand_id == brand_id,
                BrandCodeKey.active.is_(True),
                BrandCodeKey.next_index + req.count <= INDEX_LIMIT,
            )
            .values(next_index=BrandCodeKey.next_index + req.count)
            .returning(BrandCodeKey.kid, BrandCodeKey.next_index)
            .execution_options(synchronize_session=False)
        )
    ).first()
    if allocated is None:
        has_key = await session.scalar(
            select(BrandCodeKey.kid).where(
                BrandCodeKey.brand_id == brand_id, BrandCodeKey.active.is_(True)
            )
        )
        if has_key is None:
            raise Conflict("the brand has no active code key", code="no_code_key")
        raise Conflict(
            "the brand's code key has too few indexes left for this roll; rotate the key",
            code="code_space_exhausted",
            field="count",
        )
    kid, next_index = int(allocated[0]), int(allocated[1])
    if kid not in keyring:
        raise Conflict(
            f"code key {kid} is not configured on this server", code="code_key_unavailable"
        )
    now = utcnow()
    actor_id = actor.subject if actor else None
    roll = CodeRoll(
        id=uuid.uuid4(),
        brand_id=brand_id,
        product_id=product.id,
        kid=kid,
        first_index=next_index - req.count,
        count=req.count,
        batch_id=batch_id,
        idempotency_key=req.idempotency_key,
        note=req.note,
        created_at=now,
        created_by=actor_id,
    )
    session.add(roll)
    try:
        # Flushed alone: the models declare no relationships, so the unit of work would not
        # order the event after its roll; and this insert is where an idempotency race shows.
        await session.flush()
    except IntegrityError as exc:
        if req.idempotency_key is None:
            raise
        raise _IdempotencyRace from exc
    if req.activate:
        session.add(
            CodeRangeEvent(
                roll_id=roll.id,
                seq_start=0,
                seq_end=req.count,
                action=RangeAction.ACTIVATE,
                created_at=now,
                created_by=actor_id,
            )
        )
    record_audit(
        session,
        actor,
        "roll.issued",
        target_type="code_roll",
        target_id=roll.id,
        brand_id=brand_id,
        details={
            "product_id": str(product.id),
            "count": req.count,
            "batch_id": str(batch_id) if batch_id else None,
            "activate": req.activate,
        },
    )
    await session.flush()
    return IssueResult(roll, created=True)


async def issue_roll_and_commit(
    session: AsyncSession,
    keyring: Keyring,
    actor: Principal | None,
    brand_id: uuid.UUID,
    req: IssueRequest,
) -> IssueResult:
    """``issue_roll`` as its own unit of work (commits).

    Two concurrent requests with one idempotency key: the loser's insert violates the unique
    constraint; it rolls back (its index allocation with it) and replays the winner's roll.
    """
    try:
        result = await issue_roll(session, keyring, actor, brand_id, req)
    except _IdempotencyRace:
        await session.rollback()
        result = await issue_roll(session, keyring, actor, brand_id, req)
    await session.commit()
    return result


async def product_of_gtin(session: AsyncSession, gtin: str) -> tuple[Product, Brand]:
    """The product with this GTIN (any brand: GTINs are globally unique) and its brand."""
    gtin14 = normalize_gtin(gtin, field="product")
    row = (
        await session.execute(
            select(Product, Brand)
            .join(Brand, Brand.id == Product.brand_id)
            .where(Product.gtin == gtin14)
        )
    ).first()
    if row is None:
        raise NotFound(f"no product with GTIN {gtin14}", code="unknown_product", field="product")
    return row[0], row[1]


# ---------------------------------------------------------------------------------------------
# Reading rolls
# ---------------------------------------------------------------------------------------------
async def get_roll(session: AsyncSession, brand_id: uuid.UUID, roll_id: uuid.UUID) -> CodeRoll:
    """The roll if it belongs to the brand; 404 otherwise (no existence leak across brands)."""
    roll = await session.get(CodeRoll, roll_id)
    if roll is None or roll.brand_id != brand_id:
        raise NotFound("unknown roll", code="unknown_roll")
    return roll


async def list_rolls(
    session: AsyncSession,
    brand_id: uuid.UUID,
    *,
    product_id: uuid.UUID | None = None,
    batch_id: uuid.UUID | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[CodeRoll], int]:
    """A page of the brand's rolls, newest first, and the total matching the filters."""
    conditions: list[ColumnElement[bool]] = [CodeRoll.brand_id == brand_id]
    if product_id is not None:
        conditions.append(CodeRoll.product_id == product_id)
    if batch_id is not None:
        conditions.append(CodeRoll.batch_id == batch_id)
    where = and_(*conditions)
    total = await session.scalar(select(func.count()).select_from(CodeRoll).where(where))
    rows = (
        await session.execute(
            select(CodeRoll)
            .where(where)
            .order_by(CodeRoll.created_at.desc(), CodeRoll.id)
            .limit(limit)
            .offset(offset)
        )
    ).scalars()
    return list(rows), int(total or 0)


async def product_gtins(session: AsyncSession, product_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not product_ids:
        return {}
    rows = await session.execute(
        select(Product.id, Product.gtin).where(Product.id.in_(product_ids))
    )
    return {r[0]: r[1] for r in rows}


async def batch_lots(session: AsyncSession, batch_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not batch_ids:
        return {}
    rows = await session.execute(select(Batch.id, Batch.lot).where(Batch.id.in_(batch_ids)))
    return {r[0]: r[1] for r in rows}


@dataclass(frozen=True, slots=True)
class RollState:
    """A roll's compiled lifecycle: disjoint segments and the number of codes per status."""

    roll: CodeRoll
    segments: list[Segment]
    counts: dict[str, int]

    def segment_at(self, seq: int) -> Segment:
        starts = [s.start for s in self.segments]
        return self.segments[bisect_right(starts, seq) - 1]

    def segment_end(self, i: int) -> int:
        return self.segments[i + 1].start if i + 1 < len(self.segments) else self.roll.count


async def roll_state(session: AsyncSession, roll: CodeRoll) -> RollState:
    """Fold the roll's range events (from the database, this transaction's view)."""
    events = (
        await session.execute(
            select(
                CodeRangeEvent.seq_start,
                CodeRangeEvent.seq_end,
                CodeRangeEvent.action,
                CodeRangeEvent.batch_id,
                CodeRangeEvent.reason,
            )
            .where(CodeRangeEvent.roll_id == roll.id)
            .order_by(CodeRangeEvent.id)
        )
    ).all()
    segments = compile_segments(
        roll.count, roll.batch_id, [(e[0], e[1], e[2], e[3], e[4]) for e in events]
    )
    counts = {"inactive": 0, "active": 0, "void": 0}
    for i, seg in enumerate(segments):
        end = segments[i + 1].start if i + 1 < len(segments) else roll.count
        counts[seg.status] = counts.get(seg.status, 0) + end - seg.start
    return RollState(roll, segments, counts)


# ---------------------------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ExportPlan:
    """Everything needed to render a roll's print file (or a sub-range of it)."""

    roll_id: uuid.UUID
    key: CodeKey
    gtin14: str
    roll_first_index: int
    from_seq: int
    to_seq: int
    resolver_base_url: str
    lot: str | None
    pin_length: int | None

    @property
    def count(self) -> int:
        return self.to_seq - self.from_seq

    @property
    def is_whole_roll(self) -> bool:
        return self.from_seq == 0

    def iter_csv(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[str]:
        """The CSV in text chunks; ``seq`` is always the position in the whole roll."""
        if self.is_whole_roll:
            return iter_export_csv(
                self.key,
                self.gtin14,
                self.roll_first_index,
                self.count,
                resolver_base_url=self.resolver_base_url,
                lot=self.lot,
                pin_length=self.pin_length,
                chunk_size=chunk_size,
            )
        # export.iter_export_csv numbers rows from its start index; a sub-range must keep the
        # roll's numbering, so render its chunks directly (same row format, same validation).
        prefix = _validate(
            self.gtin14,
            self.roll_first_index,
            self.to_seq,
            self.resolver_base_url,
            self.lot,
            self.pin_length,
            chunk_size,
        )
        return self._iter_sub_range(prefix, chunk_size)

    def _iter_sub_range(self, prefix: str, chunk_size: int) -> Iterator[str]:
        yield export_header(self.pin_length)
        start = self.roll_first_index
        for first, n in _chunk_ranges(start + self.from_seq, self.count, chunk_size):
            yield _render_chunk(self.key, self.gtin14, start, first, n, prefix, self.pin_length)


def _check_range(
    roll: CodeRoll,
    seq_from: int | None,
    seq_to: int | None,
    *,
    from_field: str = "seq_from",
    to_field: str = "seq_to",
) -> tuple[int, int]:
    lo = 0 if seq_from is None else seq_from
    hi = roll.count if seq_to is None else seq_to
    if lo < 0 or lo >= roll.count:
        raise InvalidInput(
            f"{from_field} must be in [0, {roll.count})",
            code="range_outside_roll",
            field=from_field,
        )
    if hi <= lo:
        raise InvalidInput(
            f"{to_field} must be greater than {from_field}", code="empty_range", field=to_field
        )
    if hi > roll.count:
        raise InvalidInput(
            f"{to_field} must be at most {roll.count} (the roll's size)",
            code="range_outside_roll",
            field=to_field,
        )
    return lo, hi


async def plan_export(
    session: AsyncSession,
    keyring: Keyring,
    actor: Principal | None,
    roll: CodeRoll,
    *,
    resolver_base_url: str,
    from_seq: int | None = None,
    to_seq: int | None = None,
) -> ExportPlan:
    """Check and describe an export of ``roll``; records the ``roll.exported`` audit entry."""
    lo, hi = _check_range(roll, from_seq, to_seq, from_field="from_seq", to_field="to_seq")
    key = keyring.get(roll.kid)
    if key is None:
        raise Conflict(
            f"code key {roll.kid} is not configured on this server", code="code_key_unavailable"
        )
    product = await session.get(Product, roll.product_id)
    assert product is not None  # foreign key
    lot = None
    if roll.batch_id is not None:
        batch = await session.get(Batch, roll.batch_id)
        lot = batch.lot if batch else None
    plan = ExportPlan(
        roll_id=roll.id,
        key=key,
        gtin14=product.gtin,
        roll_first_index=roll.first_index,
        from_seq=lo,
        to_seq=hi,
        resolver_base_url=resolver_base_url,
        lot=lot,
        pin_length=product.pin_length,
    )
    record_audit(
        session,
        actor,
        "roll.exported",
        target_type="code_roll",
        target_id=roll.id,
        brand_id=roll.brand_id,
        details={"from_seq": lo, "to_seq": hi, "pin": product.pin_length is not None},
    )
    return plan


# ---------------------------------------------------------------------------------------------
# Lifecycle: range events
# ---------------------------------------------------------------------------------------------
def _add_event(
    session: AsyncSession,
    actor: Principal | None,
    roll: CodeRoll,
    lo: int,
    hi: int,
    action: str,
    *,
    batch_id: uuid.UUID | None = None,
    reason: str | None = None,
) -> None:
    session.add(
        CodeRangeEvent(
            roll_id=roll.id,
            seq_start=lo,
            seq_end=hi,
            action=action,
            batch_id=batch_id,
            reason=reason,
            created_at=utcnow(),
            created_by=actor.subject if actor else None,
        )
    )


async def activate_range(
    session: AsyncSession,
    actor: Principal | None,
    roll: CodeRoll,
    seq_from: int | None = None,
    seq_to: int | None = None,
) -> tuple[int, int]:
    """Activate codes ``[seq_from, seq_to)`` (whole roll by default). Void codes stay void."""
    lo, hi = _check_range(roll, seq_from, seq_to)
    _add_event(session, actor, roll, lo, hi, RangeAction.ACTIVATE)
    record_audit(
        session,
        actor,
        "roll.activated",
        target_type="code_roll",
        target_id=roll.id,
        brand_id=roll.brand_id,
        details={"seq_from": lo, "seq_to": hi},
    )
    await session.flush()
    return lo, hi


async def void_range(
    session: AsyncSession,
    actor: Principal | None,
    roll: CodeRoll,
    seq_from: int | None,
    seq_to: int | None,
    reason: str | None,
) -> tuple[int, int]:
    """Void codes ``[seq_from, seq_to)``: final, a later activation does not revive them."""
    for name, value in (("seq_from", seq_from), ("seq_to", seq_to)):
        if value is None:  # voiding is explicit: never a whole roll by omission
            raise InvalidInput(f"{name} is required", code="field_required", field=name)
    lo, hi = _check_range(roll, seq_from, seq_to)
    reason = _check_reason(reason)
    _add_event(session, actor, roll, lo, hi, RangeAction.VOID, reason=reason)
    record_audit(
        session,
        actor,
        "roll.voided",
        target_type="code_roll",
        target_id=roll.id,
        brand_id=roll.brand_id,
        details={"seq_from": lo, "seq_to": hi, "reason": reason},
    )
    await session.flush()
    return lo, hi


def _check_reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text or len(text) > 500:
        raise InvalidInput(
            "reason must be 1 to 500 characters", code="invalid_reason", field="reason"
        )
    return text


async def bind_batch_range(
    session: AsyncSession,
    actor: Principal | None,
    roll: CodeRoll,
    batch_id: uuid.UUID,
    seq_from: int | None = None,
    seq_to: int | None = None,
) -> tuple[int, int]:
    """Bind codes ``[seq_from, seq_to)`` to a batch of the roll's product."""
    lo, hi = _check_range(roll, seq_from, seq_to)
    batch = await session.get(Batch, batch_id)
    if batch is None or batch.brand_id != roll.brand_id or batch.product_id != roll.product_id:
        raise InvalidInput(
            "unknown batch for this roll's product", code="unknown_batch", field="batch_id"
        )
    _add_event(session, actor, roll, lo, hi, RangeAction.BIND_BATCH, batch_id=batch_id)
    record_audit(
        session,
        actor,
        "roll.batch_bound",
        target_type="code_roll",
        target_id=roll.id,
        brand_id=roll.brand_id,
        details={"seq_from": lo, "seq_to": hi, "batch_id": str(batch_id)},
    )
    await session.flush()
    return lo, hi


# ---------------------------------------------------------------------------------------------
# Codes: void by list, admin lookup
# ---------------------------------------------------------------------------------------------
@dataclass(slots=True)
class CodeVoidResult:
    gtin: str
    code: str
    result: VoidOutcome
    roll_id: uuid.UUID | None = None
    seq: int | None = None


async def _rolls_covering(
    session: AsyncSession, brand_id: uuid.UUID, kid: int, indexes: Sequence[int]
) -> tuple[list[int], list[CodeRoll]]:
    """The brand's rolls under ``kid`` overlapping [min(indexes), max(indexes)], by start."""
    lo, hi = min(indexes), max(indexes)
    # The last roll starting at or before lo, plus every roll starting inside [lo, hi].
    first = await session.scalar(
        select(CodeRoll.first_index)
        .where(CodeRoll.kid == kid, CodeRoll.first_index <= lo)
        .order_by(CodeRoll.first_index.desc())
        .limit(1)
    )
    rolls = list(
        (
            await session.execute(
                select(CodeRoll)
                .where(
                    CodeRoll.kid == kid,
                    CodeRoll.brand_id == brand_id,
                    CodeRoll.first_index >= (first if first is not None else lo),
                    CodeRoll.first_index <= hi,
                )
                .order_by(CodeRoll.first_index)
            )
        ).scalars()
    )
    return [r.first_index for r in rolls], rolls


async def void_codes(
    session: AsyncSession,
    keyring: Keyring,
    actor: Principal | None,
    brand_id: uuid.UUID,
    codes: Sequence[tuple[str, str]],
    reason: str | None,
) -> tuple[list[CodeVoidResult], set[uuid.UUID]]:
    """Void single codes ``(gtin, code)``: one range event per contiguous run per roll.

    Each code gets its own outcome; a bad code never fails the call. Returns the outcomes
    (input order) and the ids of the rolls changed.
    """
    reason = _check_reason(reason)
    if len(codes) > MAX_VOID_CODES:
        raise InvalidInput(
            f"at most {MAX_VOID_CODES} codes per call", code="too_many_codes", field="codes"
        )
    results: list[CodeVoidResult] = []
    by_kid: dict[int, list[tuple[int, int]]] = {}  # kid -> [(index, result position)]
    for gtin, code in codes:
        result = CodeVoidResult(gtin=gtin, code=code, result="invalid_code")
        results.append(result)
        try:
            gtin14 = normalize_gtin(gtin)
        except InvalidInput:
            continue
        decoded = verify_code(keyring, code, gtin14)
        if decoded is None:
            continue
        result.gtin = gtin14
        result.result = "not_found"
        by_kid.setdefault(decoded.kid, []).append((decoded.index, len(results) - 1))

    gtin_cache: dict[uuid.UUID, str] = {}
    per_roll: dict[uuid.UUID, tuple[CodeRoll, list[int]]] = {}
    for kid, items in by_kid.items():
        starts, rolls = await _rolls_covering(session, brand_id, kid, [i for i, _ in items])
        for index, pos in items:
            j = bisect_right(starts, index) - 1
            if j < 0 or index >= rolls[j].first_index + rolls[j].count:
                continue
            roll = rolls[j]
            if roll.product_id not in gtin_cache:
                gtin_cache.update(await product_gtins(session, {roll.product_id}))
            if gtin_cache[roll.product_id] != results[pos].gtin:
                continue  # the MAC binds the GTIN, so this is only reachable with a leaked key
            results[pos].roll_id = roll.id
            results[pos].seq = index - roll.first_index
            per_roll.setdefault(roll.id, (roll, []))[1].append(pos)

    changed: set[uuid.UUID] = set()
    for roll, positions in per_roll.values():
        state = await roll_state(session, roll)
        to_void: set[int] = set()
        for pos in positions:
            seq = results[pos].seq
            assert seq is not None
            if state.segment_at(seq).status == "void":
                results[pos].result = "already_void"
            else:
                results[pos].result = "voided"
                to_void.add(seq)
        runs = _runs(sorted(to_void))
        for lo, hi in runs:
            _add_event(session, actor, roll, lo, hi, RangeAction.VOID, reason=reason)
        if runs:
            changed.add(roll.id)
            record_audit(
                session,
                actor,
                "codes.voided",
                target_type="code_roll",
                target_id=roll.id,
                brand_id=brand_id,
                details={"codes": len(to_void), "ranges": len(runs), "reason": reason},
            )
    await session.flush()
    return results, changed


def _runs(seqs: list[int]) -> list[tuple[int, int]]:
    """Sorted distinct ints -> half-open contiguous runs."""
    runs: list[tuple[int, int]] = []
    for s in seqs:
        if runs and runs[-1][1] == s:
            runs[-1] = (runs[-1][0], s + 1)
        else:
            runs.append((s, s + 1))
    return runs


@dataclass(frozen=True, slots=True)
class CodeLookup:
    gtin: str
    code: str
    roll_id: uuid.UUID
    seq: int
    status: str
    void_reason: str | None
    batch: BatchFacts | None
    product: ProductFacts


async def lookup_code(
    session: AsyncSession, keyring: Keyring, brand_id: uuid.UUID, gtin: str, code: str
) -> CodeLookup:
    """A code's roll, position and current state as the brand sees it (fresh from the DB)."""
    unknown = NotFound("unknown code", code="unknown_code")
    try:
        gtin14 = normalize_gtin(gtin)
    except InvalidInput:
        raise unknown from None
    decoded = verify_code(keyring, code, gtin14)
    if decoded is None:
        raise unknown
    roll = await session.scalar(
        select(CodeRoll)
        .where(CodeRoll.kid == decoded.kid, CodeRoll.first_index <= decoded.index)
        .order_by(CodeRoll.first_index.desc())
        .limit(1)
    )
    if roll is None or roll.brand_id != brand_id or decoded.index >= roll.first_index + roll.count:
        raise unknown
    product = await session.get(Product, roll.product_id)
    assert product is not None  # foreign key
    if product.gtin != gtin14:
        raise unknown
    seq = decoded.index - roll.first_index
    state = await roll_state(session, roll)
    segment = state.segment_at(seq)
    batch_facts = None
    if segment.batch_id is not None:
        batch = await session.get(Batch, segment.batch_id)
        if batch is not None:
            batch_facts = BatchFacts(
                id=batch.id,
                lot=batch.lot,
                production_date=batch.production_date.isoformat(),
                expiry_date=batch.expiry_date.isoformat() if batch.expiry_date else None,
                line=batch.line,
            )
    return CodeLookup(
        gtin=gtin14,
        code=code.strip().upper(),
        roll_id=roll.id,
        seq=seq,
        status=segment.status,
        void_reason=segment.void_reason,
        batch=batch_facts,
        product=ProductFacts(
            id=product.id,
            gtin=product.gtin,
            name=product.name,
            description=product.description,
            image_url=product.image_url,
            pin_length=product.pin_length,
        ),
    )
