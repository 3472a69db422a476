"""Request and response bodies of the code roll admin API (msgspec)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from anticounterfeit.codes.metadata import BatchFacts, ProductFacts
from anticounterfeit.codes.services import MAX_ROLL_COUNT, MAX_VOID_CODES
from kernel.pagination import Page

__all__ = [
    "ActivateRangeIn",
    "BindBatchIn",
    "CodeLookupOut",
    "CodeRefIn",
    "IssueRollIn",
    "RollDetailOut",
    "RollOut",
    "SegmentOut",
    "StatusCountsOut",
    "VoidCodeResultOut",
    "VoidCodesIn",
    "VoidCodesOut",
    "VoidRangeIn",
]

Seq = Annotated[int, Meta(ge=0, description="Position in the roll, 0-based.")]
SeqEnd = Annotated[int, Meta(ge=1, description="End of the range, exclusive.")]
Reason = Annotated[str, Meta(min_length=1, max_length=500)]


class IssueRollIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Issue a roll: one of ``product_id`` / ``gtin``, at most one of ``batch_id`` / ``lot``."""

    count: Annotated[int, Meta(ge=1, le=MAX_ROLL_COUNT)]
    product_id: uuid.UUID | None = None
    gtin: Annotated[str, Meta(max_length=14)] | None = None
    batch_id: uuid.UUID | None = None
    lot: Annotated[str, Meta(min_length=1, max_length=20)] | None = None
    activate: bool = False
    note: Annotated[str, Meta(max_length=500)] | None = None


class ActivateRangeIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Codes ``[seq_from, seq_to)``; the whole roll when both are omitted."""

    seq_from: Seq | None = None
    seq_to: SeqEnd | None = None


# Required fields below are declared optional and checked by the service: a missing field then
# comes back as a 422 naming it (the validation mapper cannot name a *missing* field).
class VoidRangeIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Codes ``[seq_from, seq_to)`` (both required) and the reason (required)."""

    seq_from: Seq | None = None
    seq_to: SeqEnd | None = None
    reason: Reason | None = None


class BindBatchIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    batch_id: uuid.UUID
    seq_from: Seq | None = None
    seq_to: SeqEnd | None = None


class CodeRefIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    gtin: Annotated[str, Meta(max_length=20)]
    code: Annotated[str, Meta(max_length=40)]


class VoidCodesIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    codes: Annotated[list[CodeRefIn], Meta(min_length=1, max_length=MAX_VOID_CODES)]
    reason: Reason | None = None


class RollOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    product_id: uuid.UUID
    gtin: str
    batch_id: uuid.UUID | None
    lot: str | None
    count: int
    kid: int
    note: str | None
    idempotency_key: str | None
    created_at: datetime
    created_by: uuid.UUID | None


class RollPage(Page[RollOut], kw_only=True):
    """One page of roll entries."""

    items: list[RollOut]


class StatusCountsOut(msgspec.Struct, kw_only=True):
    inactive: int
    active: int
    void: int


class SegmentOut(msgspec.Struct, kw_only=True):
    seq_start: int
    seq_end: int
    status: str
    batch_id: uuid.UUID | None
    void_reason: str | None


class RollDetailOut(RollOut, kw_only=True):
    status_counts: StatusCountsOut
    segments: list[SegmentOut]


class VoidCodeResultOut(msgspec.Struct, kw_only=True):
    gtin: str
    code: str
    result: Literal["voided", "invalid_code", "not_found", "already_void"]
    roll_id: uuid.UUID | None = None
    seq: int | None = None


class VoidCodesOut(msgspec.Struct, kw_only=True):
    voided: int
    results: list[VoidCodeResultOut]


class CodeLookupOut(msgspec.Struct, kw_only=True):
    gtin: str
    code: str
    valid: bool
    roll_id: uuid.UUID
    seq: int
    status: str
    void_reason: str | None
    batch: BatchFacts | None
    product: ProductFacts
