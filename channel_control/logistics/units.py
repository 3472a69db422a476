"""What aggregation, shipments and checks are given: item codes, roll ranges, containers.

Every input is turned into code_id ranges (``code_id = kid * 2**40 + index``) and checked
against the keyring (genuine?) and the roll directory (issued? this brand's? void?), and each
bad input gets its own failure with a stable code instead of failing a whole bulk call.
Also: SSCC validation (GS1 check digit) and the interval arithmetic the projection uses."""

from __future__ import annotations

import uuid
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from anticounterfeit.codes.format import Keyring, verify_code
from anticounterfeit.codes.identity import code_id_of
from anticounterfeit.codes.metadata import CodeMetadataService, RollMetadata
from anticounterfeit.gs1.digital_link import parse_digital_link
from kernel.errors import InvalidInput

__all__ = ["Failure", "ItemCode", "Piece", "RangeInput", "UnitChecker", "coalesce", "pieces"]


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Failure:
    """One input that was not applied; ``input`` echoes what the caller sent."""

    input: str
    field: str
    code: str
    detail: str


@dataclass(frozen=True, slots=True)
class ItemCode:
    """A verified, issued code of the brand."""

    code_id: int
    kid: int
    index: int
    gtin: str
    serial: str
    roll_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class RangeInput:
    roll_id: uuid.UUID
    seq_start: int
    seq_end: int


# ---------------------------------------------------------------------------------------------
# Codes and roll ranges
# ---------------------------------------------------------------------------------------------
class UnitChecker:
    """Checks item/case codes and roll ranges for one brand (keyring + cached roll facts)."""

    def __init__(self, keyring: Keyring, metadata: CodeMetadataService, brand_id: uuid.UUID):
        self.keyring = keyring
        self.metadata = metadata
        self.brand_id = brand_id

    async def code(self, text: str, field: str) -> ItemCode | Failure:
        """A code given as Digital Link URL, ``/01/../21/..`` path or ``(01)..(21)..`` text."""
        shown = text[:200]
        try:
            link = parse_digital_link(text, field=field)
        except InvalidInput as exc:
            return Failure(shown, field, "malformed", exc.detail)
        if not link.serial:
            return Failure(shown, field, "malformed", f"{field} has no serial (/21/)")
        decoded = verify_code(self.keyring, link.serial, link.gtin)
        if decoded is None:
            return Failure(shown, field, "not_genuine", "not a code issued by scanguard")
        meta = await self.metadata.roll_for(decoded.kid, decoded.index)
        if meta is None or meta.product.gtin != link.gtin:
            return Failure(shown, field, "unknown_code", "no roll issued this code")
        if meta.brand_id != self.brand_id:
            return Failure(shown, field, "wrong_brand", "the code belongs to another brand")
        if meta.state_of(decoded.index).status == "void":
            return Failure(shown, field, "void", "the code has been voided")
        return ItemCode(
            code_id=code_id_of(decoded.kid, decoded.index),
            kid=decoded.kid,
            index=decoded.index,
            gtin=link.gtin,
            serial=link.serial.strip().upper(),
            roll_id=meta.roll_id,
        )

    async def roll_range(self, rng: RangeInput, field: str) -> tuple[int, int] | Failure:
        """The code_id range of seqs [seq_start, seq_end) of one of the brand's rolls."""
        shown = f"{rng.roll_id}[{rng.seq_start}:{rng.seq_end}]"
        if rng.seq_start < 0 or rng.seq_end <= rng.seq_start:
            return Failure(shown, field, "invalid_range", "need 0 <= seq_start < seq_end")
        meta = await self.metadata.roll(rng.roll_id)
        if meta is None or meta.brand_id != self.brand_id:
            return Failure(shown, field, "unknown_roll", "no such roll in this brand")
        if rng.seq_end > meta.count:
            return Failure(
                shown, field, "invalid_range", f"the roll has {meta.count} codes (seq_end too big)"
            )
        if _has_void(meta, rng.seq_start, rng.seq_end):
            return Failure(shown, field, "void", "the range contains voided codes")
        first = code_id_of(meta.kid, meta.first_index)
        return first + rng.seq_start, first + rng.seq_end

    async def resolve(
        self, codes: Sequence[str], ranges: Sequence[RangeInput], *, prefix: str = ""
    ) -> tuple[list[tuple[int, int, str, str]], list[ItemCode], list[Failure]]:
        """All inputs as (code_start, code_end, input, field) ranges; duplicates are failures."""
        out: list[tuple[int, int, str, str]] = []
        items: list[ItemCode] = []
        failures: list[Failure] = []
        seen: set[int] = set()
        for i, text in enumerate(codes):
            field = f"{prefix}codes[{i}]"
            got = await self.code(text, field)
            if isinstance(got, Failure):
                failures.append(got)
            elif got.code_id in seen:
                failures.append(
                    Failure(text[:200], field, "duplicate_in_request", "the code is listed twice")
                )
            else:
                seen.add(got.code_id)
                items.append(got)
                out.append((got.code_id, got.code_id + 1, text[:200], field))
        taken: list[tuple[int, int]] = []
        for i, rng in enumerate(ranges):
            field = f"{prefix}ranges[{i}]"
            got_range = await self.roll_range(rng, field)
            if isinstance(got_range, Failure):
                failures.append(got_range)
                continue
            lo, hi = got_range
            if any(a < hi and lo < b for a, b in taken) or any(lo <= c < hi for c in seen):
                failures.append(
                    Failure(
                        f"{rng.roll_id}[{rng.seq_start}:{rng.seq_end}]",
                        field,
                        "duplicate_in_request",
                        "the range overlaps another input of this request",
                    )
                )
                continue
            taken.append((lo, hi))
            out.append((lo, hi, f"{rng.roll_id}[{rng.seq_start}:{rng.seq_end}]", field))
        return out, items, failures


def _has_void(meta: RollMetadata, lo: int, hi: int) -> bool:
    """Whether any code of seqs [lo, hi) of the roll is void (segments are sorted by start)."""
    i = max(0, bisect_right(meta.segment_starts, lo) - 1)
    while i < len(meta.segments) and meta.segments[i].start < hi:
        if meta.segments[i].status == "void":
            return True
        i += 1
    return False


# ---------------------------------------------------------------------------------------------
# Intervals
# ---------------------------------------------------------------------------------------------
def coalesce(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, merged half-open ranges (touching ranges join)."""
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1]:
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return merged


@dataclass(frozen=True, slots=True)
class Piece(Generic[T]):
    start: int
    end: int
    value: T | None  # None: no stored interval covers this piece


def pieces(
    stored: Sequence[tuple[int, int, T]], lo: int, hi: int, starts: Sequence[int] | None = None
) -> list[Piece[T]]:
    """Split [lo, hi) along non-overlapping stored intervals (sorted by start): the covered
    parts carry their interval's value, the gaps carry None. Pieces cover [lo, hi) exactly.
    Pass ``starts`` (the stored starts) when calling in a loop over the same intervals."""
    out: list[Piece[T]] = []
    at = lo
    if starts is None:
        starts = [s for s, _, _ in stored]
    i = max(0, bisect_right(starts, lo) - 1)
    while at < hi and i < len(stored):
        s, e, value = stored[i]
        i += 1
        if e <= at:
            continue
        if s >= hi:
            break
        if s > at:
            out.append(Piece(at, s, None))
            at = s
        end = min(e, hi)
        out.append(Piece(at, end, value))
        at = end
    if at < hi:
        out.append(Piece(at, hi, None))
    return out
