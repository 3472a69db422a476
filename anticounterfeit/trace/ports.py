"""What the traceability read models (traces, EPCIS export, recall reports) need from the
other packages, as Protocols; the composition root (``admin_api.trace_sources``) bundles the
implementations into :class:`TraceSources`.

- scans of code ranges: ``gateway.trace_queries``;
- who holds units of code ranges, their packing and shipping history:
  ``channel_control.logistics.queries``;
- consumers' claims of code ranges: ``loyalty.trace_source``.

A range is a half-open code_id interval ``[lo, hi)``; every call takes the caller's session
and only reads. The value types below are what the implementations answer with.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from anticounterfeit.codes.format import Keyring
from anticounterfeit.codes.metadata import CodeMetadataService

__all__ = [
    "ChannelSource",
    "ClaimSource",
    "HitGroup",
    "IdentifiedContainer",
    "PackingPeriod",
    "RangePacking",
    "RangeScanCounts",
    "RangeShipment",
    "RecallHits",
    "ScanRow",
    "ScanSource",
    "ShipmentFacts",
    "TraceSources",
]


# ---------------------------------------------------------------------------------------------
# Scans (gateway)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RangeScanCounts:
    units_scanned: int  # distinct codes with a recorded first (genuine) scan
    scans: int  # all logged scans of codes in the range (repeats included)


@dataclass(frozen=True, slots=True)
class ScanRow:
    scan_uid: uuid.UUID
    scanned_at: datetime
    code_id: int
    verdict: str
    device_hash: str
    country: str | None
    region: str | None
    city: str | None
    distributor_id: uuid.UUID | None
    recall_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class HitGroup:
    key: str | None  # a region code or a distributor id (as text); None: unknown
    scans: int
    units: int


@dataclass(frozen=True, slots=True)
class RecallHits:
    scans: int
    units: int
    by_region: list[HitGroup]
    by_distributor: list[HitGroup]


class ScanSource(Protocol):
    async def scan_counts_in_ranges(
        self, session: AsyncSession, ranges: Sequence[tuple[int, int]]
    ) -> list[RangeScanCounts]: ...

    async def scans_in_ranges(
        self,
        session: AsyncSession,
        brand_id: uuid.UUID,
        ranges: Sequence[tuple[int, int]],
        *,
        limit: int,
        offset: int,
    ) -> list[ScanRow]: ...

    async def scanners_in_ranges(
        self,
        session: AsyncSession,
        brand_id: uuid.UUID,
        ranges: Sequence[tuple[int, int]],
        *,
        after: str | None,
        limit: int,
    ) -> list[str]: ...

    async def recall_hits(
        self, session: AsyncSession, brand_id: uuid.UUID, recall_id: uuid.UUID
    ) -> RecallHits: ...

    async def scan_groups_in_ranges(
        self, session: AsyncSession, brand_id: uuid.UUID, ranges: Sequence[tuple[int, int]]
    ) -> list[HitGroup]: ...


# ---------------------------------------------------------------------------------------------
# Channel (channel_control)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ShipmentFacts:
    """What a trace tells of a shipment."""

    id: uuid.UUID
    from_distributor_id: uuid.UUID | None
    to_distributor_id: uuid.UUID | None
    shipped_at: datetime
    received_at: datetime | None


@dataclass(frozen=True, slots=True)
class PackingPeriod:
    """One unit's aggregation period: it (or, ``child_container_id`` set, its case) in
    ``parent_id`` from ``packed_at`` to ``unpacked_at``."""

    parent_id: uuid.UUID
    parent_label: str
    child_container_id: uuid.UUID | None
    packed_at: datetime
    packed_operation_id: uuid.UUID
    unpacked_at: datetime | None
    unpacked_operation_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class RangePacking:
    """An aggregation period touching the ranges: ``units`` of them in a case
    (``child_label`` None), or a case holding ``units`` of them on a pallet."""

    parent_kind: str
    parent_label: str
    child_label: str | None
    units: int
    packed_at: datetime
    packed_operation_id: uuid.UUID
    unpacked_at: datetime | None
    unpacked_operation_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class RangeShipment:
    """A shipment that carried ``units`` of the ranges (loose, or in a case or on a pallet at
    the time it was shipped)."""

    shipment: ShipmentFacts
    units: int


@dataclass(frozen=True, slots=True)
class IdentifiedContainer:
    """A case or pallet named by a code or an SSCC, with the code_id ranges in it now."""

    kind: str  # case | pallet
    label: str
    code_ranges: list[tuple[int, int]]


class ChannelSource(Protocol):
    async def units_by_holder(
        self, session: AsyncSession, brand_id: uuid.UUID, code_ranges: Iterable[tuple[int, int]]
    ) -> dict[uuid.UUID | None, int]: ...

    async def range_channel_history(
        self, session: AsyncSession, brand_id: uuid.UUID, code_ranges: Iterable[tuple[int, int]]
    ) -> tuple[list[RangePacking], list[RangeShipment]]: ...

    async def identify_container(
        self,
        session: AsyncSession,
        keyring: Keyring,
        metadata: CodeMetadataService,
        brand_id: uuid.UUID,
        *,
        code: str | None,
        sscc: str | None,
    ) -> IdentifiedContainer | str | None: ...

    async def code_channel_history(
        self,
        session: AsyncSession,
        keyring: Keyring,
        metadata: CodeMetadataService,
        brand_id: uuid.UUID,
        code: str,
    ) -> tuple[list[PackingPeriod], list[ShipmentFacts]]: ...


# ---------------------------------------------------------------------------------------------
# Claims (loyalty)
# ---------------------------------------------------------------------------------------------
class ClaimSource(Protocol):
    """Spans are ``(kid, first_index, last_index)``, inclusive."""

    async def units_claimed(
        self, session: AsyncSession, brand_id: uuid.UUID, spans: Sequence[tuple[int, int, int]]
    ) -> int: ...

    async def claimer_openids(
        self, session: AsyncSession, brand_id: uuid.UUID, spans: Sequence[tuple[int, int, int]]
    ) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class TraceSources:
    scans: ScanSource
    channel: ChannelSource
    claims: ClaimSource
