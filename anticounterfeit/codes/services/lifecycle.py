"""Code lifecycle: range events on a roll (activate, void, bind to a batch) and voiding
single codes by list.

Lifecycle changes are ``code_range_events`` rows covering ranges of a roll; nothing here
writes a row per code. Functions flush, never commit; callers invalidate the metadata cache
after commit.
"""

from __future__ import annotations

import uuid
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from anticounterfeit.catalogue.models import Batch
from anticounterfeit.codes.format import Keyring, verify_code
from anticounterfeit.codes.models import CodeRangeEvent, CodeRoll, RangeAction
from anticounterfeit.codes.queries import product_gtins, roll_state
from anticounterfeit.gs1.gtin import normalize_gtin
from kernel.audit import record_audit
from kernel.auth import Principal
from kernel.db import utcnow
from kernel.errors import InvalidInput

__all__ = [
    "MAX_VOID_CODES",
    "CodeVoidResult",
    "activate_range",
    "bind_batch_range",
    "check_range",
    "void_codes",
    "void_range",
]

MAX_VOID_CODES = 10_000

VoidOutcome = Literal["voided", "invalid_code", "not_found", "already_void"]


def check_range(
    roll: CodeRoll,
    seq_from: int | None,
    seq_to: int | None,
    *,
    from_field: str = "seq_from",
    to_field: str = "seq_to",
) -> tuple[int, int]:
    """``[lo, hi)`` of the roll that the optional bounds name (whole roll by default)."""
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
    lo, hi = check_range(roll, seq_from, seq_to)
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
    lo, hi = check_range(roll, seq_from, seq_to)
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
    lo, hi = check_range(roll, seq_from, seq_to)
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
