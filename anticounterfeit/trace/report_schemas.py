"""Response bodies of traces and recall reports, and the distributor confirmation input."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta

from anticounterfeit.trace.ports import HitGroup
from anticounterfeit.trace.recall_reports import AffectedSet
from anticounterfeit.trace.schemas import BatchGenealogyOut, ProgressOut, RecallOut
from anticounterfeit.trace.traces import (
    BackwardTrace,
    BatchTraceRow,
    DistributorTraceRow,
    ForwardTrace,
    TraceScan,
)

__all__ = [
    "AffectedSetOut",
    "BackwardTraceOut",
    "ConfirmationIn",
    "DistributorRecallOut",
    "ForwardTraceOut",
]


class CodeOut(msgspec.Struct, kw_only=True):
    gtin: str
    serial: str
    roll_id: uuid.UUID
    seq: int
    status: str
    recall_id: uuid.UUID | None


class ContentsBatchOut(msgspec.Struct, kw_only=True):
    units: int
    batch: BatchGenealogyOut | None  # None: units bound to no batch


class ContainerOut(msgspec.Struct, kw_only=True):
    kind: str  # case | pallet
    label: str  # SSCC or (01)gtin(21)serial
    units: int  # units inside now
    batches: list[ContentsBatchOut]


class BackwardTraceOut(msgspec.Struct, kw_only=True):
    code: CodeOut | None
    batch: BatchGenealogyOut | None  # None: the code is bound to no batch (or a container)
    container: ContainerOut | None = None  # a case or pallet: traced through its contents

    @classmethod
    def of(cls, trace: BackwardTrace) -> BackwardTraceOut:
        code = trace.code
        return cls(
            code=CodeOut(
                gtin=code.gtin,
                serial=code.serial,
                roll_id=code.meta.roll_id,
                seq=code.state.seq,
                status=code.state.status,
                recall_id=code.state.recall.id if code.state.recall else None,
            )
            if code
            else None,
            batch=BatchGenealogyOut.of(trace.genealogy) if trace.genealogy else None,
            container=ContainerOut(
                kind=trace.container.kind,
                label=trace.container.label,
                units=trace.container.units,
                batches=[
                    ContentsBatchOut(units=n, batch=BatchGenealogyOut.of(g) if g else None)
                    for g, n in trace.container.batches
                ],
            )
            if trace.container
            else None,
        )


class TraceSummaryOut(msgspec.Struct, kw_only=True):
    batches: int
    products: int
    code_ranges: int
    units_issued: int
    units_active: int
    units_void: int
    units_scanned: int
    scans: int
    units_claimed: int


class BatchRowOut(msgspec.Struct, kw_only=True):
    batch_id: uuid.UUID
    lot: str
    product_id: uuid.UUID
    gtin: str
    consumed_quantity: float | None
    consumed_unit: str | None
    code_ranges: int
    units_issued: int
    units_active: int
    units_scanned: int
    scans: int

    @classmethod
    def of(cls, r: BatchTraceRow) -> BatchRowOut:
        return cls(
            batch_id=r.batch_id,
            lot=r.lot,
            product_id=r.product_id,
            gtin=r.gtin,
            consumed_quantity=r.consumed_quantity,
            consumed_unit=r.consumed_unit,
            code_ranges=r.code_ranges,
            units_issued=r.units_issued,
            units_active=r.units_active,
            units_scanned=r.units_scanned,
            scans=r.scans,
        )


class TraceScanOut(msgspec.Struct, kw_only=True):
    scan_id: uuid.UUID
    scanned_at: datetime
    gtin: str | None
    serial: str | None
    verdict: str
    device_hash: str
    country: str | None
    region: str | None
    city: str | None
    distributor_id: uuid.UUID | None
    recall_id: uuid.UUID | None

    @classmethod
    def of(cls, t: TraceScan) -> TraceScanOut:
        s = t.scan
        return cls(
            scan_id=s.scan_uid,
            scanned_at=s.scanned_at,
            gtin=t.gtin,
            serial=t.serial,
            verdict=s.verdict,
            device_hash=s.device_hash,
            country=s.country,
            region=s.region,
            city=s.city,
            distributor_id=s.distributor_id,
            recall_id=s.recall_id,
        )


class GroupOut(msgspec.Struct, kw_only=True):
    key: str | None
    scans: int
    units: int

    @classmethod
    def of(cls, g: HitGroup) -> GroupOut:
        return cls(key=g.key, scans=g.scans, units=g.units)


class DistributorRowOut(msgspec.Struct, kw_only=True):
    distributor_id: uuid.UUID | None  # None: not shipped (scans) / back with the brand (held)
    units_held: int
    units_scanned: int
    scans: int

    @classmethod
    def of(cls, r: DistributorTraceRow) -> DistributorRowOut:
        return cls(
            distributor_id=r.distributor_id,
            units_held=r.units_held,
            units_scanned=r.units_scanned,
            scans=r.scans,
        )


class DetailPage(msgspec.Struct, kw_only=True, omit_defaults=True):
    kind: str  # batches | scans | distributors
    total: int
    limit: int
    offset: int
    batches: list[BatchRowOut] | None = None
    scans: list[TraceScanOut] | None = None
    distributors: list[DistributorRowOut] | None = None


class ForwardTraceOut(msgspec.Struct, kw_only=True):
    root_kind: str
    root_id: uuid.UUID
    summary: TraceSummaryOut
    detail: DetailPage | None  # None: lists are for brand admins (viewers get counts only)

    @classmethod
    def of(cls, t: ForwardTrace, *, limit: int, offset: int) -> ForwardTraceOut:
        detail = (
            DetailPage(
                kind=t.detail_kind,
                total=t.detail_total,
                limit=limit,
                offset=offset,
                batches=[BatchRowOut.of(r) for r in t.batch_rows]
                if t.batch_rows is not None
                else None,
                scans=[TraceScanOut.of(s) for s in t.scan_rows]
                if t.scan_rows is not None
                else None,
                distributors=[DistributorRowOut.of(r) for r in t.distributor_rows]
                if t.distributor_rows is not None
                else None,
            )
            if t.detail_total is not None
            else None
        )
        return cls(
            root_kind=t.root_kind,
            root_id=t.root_id,
            summary=TraceSummaryOut(
                batches=t.batches,
                products=t.products,
                code_ranges=t.code_ranges,
                units_issued=t.units_issued,
                units_active=t.units_active,
                units_void=t.units_void,
                units_scanned=t.units_scanned,
                scans=t.scans,
                units_claimed=t.units_claimed,
            ),
            detail=detail,
        )


class AffectedBatchOut(msgspec.Struct, kw_only=True):
    batch_id: uuid.UUID | None
    lot: str | None
    product_id: uuid.UUID
    gtin: str
    units: int


class HitsOut(msgspec.Struct, kw_only=True):
    scans: int
    units: int  # distinct recalled units scanned since activation: still in the market
    by_region: list[GroupOut]
    by_distributor: list[GroupOut]


class ProgressSummaryOut(msgspec.Struct, kw_only=True):
    distributors_confirmed: int
    quarantined: int
    returned: int
    share_of_issued: float  # (quarantined + returned) / units issued
    by_distributor: list[ProgressOut]


class HeldOut(msgspec.Struct, kw_only=True):
    distributor_id: uuid.UUID
    units: int


class ShippedOut(msgspec.Struct, kw_only=True):
    units_with_distributors: int  # affected units distributors hold now
    returned_to_brand: int
    by_distributor: list[HeldOut]  # most units first


class AffectedSetOut(msgspec.Struct, kw_only=True):
    recall: RecallOut
    units_issued: int
    units_active: int
    units_void: int
    code_ranges: int
    batches: list[AffectedBatchOut]
    units_scanned: int
    scans: int
    units_claimed: int
    shipped: ShippedOut
    hits: HitsOut
    progress: ProgressSummaryOut

    @classmethod
    def of(cls, recall: RecallOut, a: AffectedSet) -> AffectedSetOut:
        handled = a.quarantined + a.returned
        return cls(
            recall=recall,
            units_issued=a.units_issued,
            units_active=a.units_active,
            units_void=a.units_void,
            code_ranges=a.code_ranges,
            batches=[
                AffectedBatchOut(
                    batch_id=b.batch_id,
                    lot=b.lot,
                    product_id=b.product_id,
                    gtin=b.gtin,
                    units=b.units,
                )
                for b in a.batches
            ],
            units_scanned=a.units_scanned,
            scans=a.scans,
            units_claimed=a.units_claimed,
            shipped=ShippedOut(
                units_with_distributors=sum(a.held_by_distributor.values()),
                returned_to_brand=a.returned_to_brand,
                by_distributor=[
                    HeldOut(distributor_id=d, units=n)
                    for d, n in sorted(
                        a.held_by_distributor.items(), key=lambda kv: (-kv[1], str(kv[0]))
                    )
                ],
            ),
            hits=HitsOut(
                scans=a.hits.scans,
                units=a.hits.units,
                by_region=[GroupOut.of(g) for g in a.hits.by_region],
                by_distributor=[GroupOut.of(g) for g in a.hits.by_distributor],
            ),
            progress=ProgressSummaryOut(
                distributors_confirmed=len(a.progress),
                quarantined=a.quarantined,
                returned=a.returned,
                share_of_issued=round(handled / a.units_issued, 6) if a.units_issued else 0.0,
                by_distributor=[ProgressOut.of(p) for p in a.progress],
            ),
        )


class ConfirmationIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The distributor's current totals for this recall (each report replaces the last)."""

    quarantined: Annotated[int, Meta(ge=0, le=10**12)]
    returned: Annotated[int, Meta(ge=0, le=10**12)]
    note: Annotated[str, Meta(max_length=500)] | None = None


class DistributorRecallOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    status: str
    severity: str
    reason: str
    distributor_instructions: str
    activated_at: datetime | None
    my_confirmation: ProgressOut | None
