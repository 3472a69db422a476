"""Forward and backward traces: one call each, summary counts plus a paginated detail.

- Backward, from a scanned code (or a case code) or a batch: code → roll → batch →
  consumed material lots → suppliers, with the batch's line, shift and quality results.
- Forward, from a material lot or a batch: batches → code ranges (rolls) → consumer scans,
  with the scan path's channel context (the distributor a scanned unit was shipped to).

Counts are computed over coalesced code_id ranges (index range scans), never per code.
Who sees what: counts for every brand reader; lists (per-batch rows, individual scans,
distributors) for brand admins and platform admins only (``may_list``).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from anticounterfeit.catalogue.models import Batch, Product
from anticounterfeit.codes.format import Keyring, encode_code, verify_code
from anticounterfeit.codes.identity import split_code_id
from anticounterfeit.codes.metadata import CodeMetadataService, CodeState, RollMetadata
from anticounterfeit.codes.models import CodeRoll
from anticounterfeit.gs1.digital_link import parse_digital_link
from anticounterfeit.trace import genealogy
from anticounterfeit.trace.code_ranges import CodeRange
from anticounterfeit.trace.genealogy import BatchGenealogy
from anticounterfeit.trace.ports import HitGroup, RangeScanCounts, ScanRow, TraceSources
from anticounterfeit.trace.recall_reports import coalesce_code_ids, units_claimed
from kernel.auth import Principal, Role
from kernel.errors import InvalidInput, NotFound

__all__ = [
    "BackwardTrace",
    "BatchTraceRow",
    "DistributorTraceRow",
    "ForwardTrace",
    "ResolvedCode",
    "TraceScan",
    "backward_from_batch",
    "backward_from_code",
    "backward_from_identifier",
    "forward_trace",
    "may_list",
    "resolve_code",
]

DetailKind = Literal["batches", "scans", "distributors"]
LISTERS = (Role.BRAND_ADMIN,)  # and platform admins


def may_list(principal: Principal) -> bool:
    """Lists of units, consumers' scans and distributors: admins only (viewers get counts)."""
    return principal.is_platform_admin or principal.role in LISTERS


# ---------------------------------------------------------------------------------------------
# Backward
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ResolvedCode:
    gtin: str
    serial: str
    code_id: int
    meta: RollMetadata
    state: CodeState


async def resolve_code(
    metadata: CodeMetadataService, keyring: Keyring, brand_id: uuid.UUID, url: str
) -> ResolvedCode:
    """A scanned Digital Link (URL, path or element string) to its roll and lifecycle state;
    ``NotFound`` naming ``code`` when it is not a code this brand issued."""
    link = parse_digital_link(url, field="code")
    if link.serial is None:
        raise InvalidInput("the code has no serial (AI 21)", code="no_serial", field="code")
    decoded = verify_code(keyring, link.serial, link.gtin)
    meta = await metadata.roll_for(decoded.kid, decoded.index) if decoded else None
    if decoded is None or meta is None or meta.brand_id != brand_id:
        raise NotFound("no such code issued by this brand", code="code_not_found", field="code")
    return ResolvedCode(
        gtin=link.gtin,
        serial=link.serial.strip().upper(),
        code_id=(decoded.kid << 40) | decoded.index,
        meta=meta,
        state=meta.state_of(decoded.index),
    )


@dataclass(frozen=True, slots=True)
class ContainerContents:
    """A case or pallet: what is in it now, per batch (with that batch's genealogy)."""

    kind: str  # case | pallet
    label: str
    units: int
    batches: list[tuple[BatchGenealogy | None, int]]  # None: units bound to no batch


@dataclass(frozen=True, slots=True)
class BackwardTrace:
    code: ResolvedCode | None
    genealogy: BatchGenealogy | None
    container: ContainerContents | None = None


async def backward_from_identifier(
    session: AsyncSession,
    sources: TraceSources,
    metadata: CodeMetadataService,
    keyring: Keyring,
    brand_id: uuid.UUID,
    *,
    code: str | None,
    sscc: str | None,
) -> BackwardTrace:
    """From a unit's code, a case's code or a pallet's SSCC (channel_control identifies which)
    back to batches, materials and suppliers; a container traces through its contents."""
    found = await sources.channel.identify_container(
        session, keyring, metadata, brand_id, code=code, sscc=sscc
    )
    field = "sscc" if sscc is not None else "code"
    if isinstance(found, str) and found != "void":
        raise NotFound(
            f"no such unit, case or pallet ({found})", code="code_not_found", field=field
        )
    if isinstance(found, str) or found is None:
        assert code is not None  # an SSCC always names a container
        return await backward_from_code(
            session, await resolve_code(metadata, keyring, brand_id, code), brand_id
        )
    contents = await genealogy.code_ranges_in(session, brand_id, found.code_ranges)
    units: dict[uuid.UUID | None, int] = defaultdict(int)
    for r in contents:
        units[r.batch_id] += r.count
    batches: list[tuple[BatchGenealogy | None, int]] = []
    for batch_id, count in sorted(units.items(), key=lambda kv: -kv[1]):
        g = await genealogy.get_batch_genealogy(session, brand_id, batch_id) if batch_id else None
        batches.append((g, count))
    return BackwardTrace(
        None,
        None,
        ContainerContents(
            kind=found.kind,
            label=found.label,
            units=sum(units.values()),
            batches=batches,
        ),
    )


async def backward_from_code(
    session: AsyncSession, resolved: ResolvedCode, brand_id: uuid.UUID
) -> BackwardTrace:
    batch = resolved.state.batch
    if batch is None:
        return BackwardTrace(resolved, None)
    return BackwardTrace(resolved, await genealogy.get_batch_genealogy(session, brand_id, batch.id))


async def backward_from_batch(
    session: AsyncSession, brand_id: uuid.UUID, batch_id: uuid.UUID
) -> BackwardTrace:
    return BackwardTrace(None, await genealogy.get_batch_genealogy(session, brand_id, batch_id))


# ---------------------------------------------------------------------------------------------
# Forward
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BatchTraceRow:
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


@dataclass(frozen=True, slots=True)
class DistributorTraceRow:
    """Downstream of the root at one distributor (None: not shipped / unknown for scans,
    back with the brand for held units)."""

    distributor_id: uuid.UUID | None
    units_held: int  # units it holds now (current-position projection)
    units_scanned: int  # units scanned by consumers after being shipped to it
    scans: int


@dataclass(frozen=True, slots=True)
class TraceScan:
    scan: ScanRow
    serial: str | None
    gtin: str | None


@dataclass(frozen=True, slots=True)
class ForwardTrace:
    root_kind: str
    root_id: uuid.UUID
    batches: int
    products: int
    code_ranges: int
    units_issued: int
    units_active: int
    units_void: int
    units_scanned: int
    scans: int
    units_claimed: int
    detail_kind: DetailKind
    detail_total: int | None  # None: lists withheld from this caller
    batch_rows: list[BatchTraceRow] | None = None
    scan_rows: list[TraceScan] | None = None
    distributor_rows: list[DistributorTraceRow] | None = None


async def forward_trace(
    session: AsyncSession,
    sources: TraceSources,
    keyring: Keyring,
    brand_id: uuid.UUID,
    *,
    material_lot_id: uuid.UUID | None,
    batch_id: uuid.UUID | None,
    detail: DetailKind,
    with_lists: bool,
    limit: int,
    offset: int,
) -> ForwardTrace:
    """Everything downstream of a material lot or a batch (exactly one of them)."""
    consumed: dict[uuid.UUID, list[tuple[uuid.UUID, float, str | None]]] = {}
    if material_lot_id is not None:
        await genealogy.get_material_lot(
            session, brand_id, material_lot_id, field="material_lot_id"
        )
        consumed = await genealogy.batches_of_material_lots(session, brand_id, [material_lot_id])
        root_kind, root_id = "material_lot", material_lot_id
    elif batch_id is not None:
        await genealogy.get_batch_genealogy(session, brand_id, batch_id)  # 404 if not ours
        consumed = {batch_id: []}
        root_kind, root_id = "batch", batch_id
    else:
        raise InvalidInput(
            "give material_lot_id or batch_id", code="trace_root_required", field="material_lot_id"
        )
    batches = {
        b.id: b
        for b in (
            await session.execute(
                select(Batch)
                .where(Batch.brand_id == brand_id, Batch.id.in_(list(consumed)))
                .order_by(Batch.production_date, Batch.lot, Batch.id)
            )
        ).scalars()
    }
    ranges = await genealogy.code_ranges_of_batches(session, brand_id, batches)
    coalesced = coalesce_code_ids(ranges)
    # One pass over the scans, per batch (a code belongs to one batch: the sums are totals).
    counts = await _counts_by_batch(session, sources, ranges)
    trace = ForwardTrace(
        root_kind=root_kind,
        root_id=root_id,
        batches=len(batches),
        products=len({b.product_id for b in batches.values()}),
        code_ranges=len(ranges),
        units_issued=sum(r.count for r in ranges),
        units_active=sum(r.active for r in ranges),
        units_void=sum(r.void for r in ranges),
        units_scanned=sum(c.units_scanned for c in counts.values()),
        scans=sum(c.scans for c in counts.values()),
        units_claimed=await units_claimed(session, sources, brand_id, coalesced),
        detail_kind=detail,
        detail_total=None,
    )
    if not with_lists:
        return trace
    if detail == "batches":
        rows = await _batch_rows(
            session, list(batches.values()), consumed, ranges, counts, limit=limit, offset=offset
        )
        return _with(trace, len(batches), batch_rows=rows)
    if detail == "scans":
        scans = await sources.scans.scans_in_ranges(
            session, brand_id, coalesced, limit=limit, offset=offset
        )
        return _with(trace, trace.scans, scan_rows=await _with_serials(session, keyring, scans))
    at_distributors = await _distributor_rows(session, sources, brand_id, coalesced)
    return _with(
        trace, len(at_distributors), distributor_rows=at_distributors[offset : offset + limit]
    )


async def _distributor_rows(
    session: AsyncSession,
    sources: TraceSources,
    brand_id: uuid.UUID,
    coalesced: list[tuple[int, int]],
) -> list[DistributorTraceRow]:
    held = await sources.channel.units_by_holder(session, brand_id, coalesced)
    scanned: dict[uuid.UUID | None, HitGroup] = {
        uuid.UUID(g.key) if g.key else None: g
        for g in await sources.scans.scan_groups_in_ranges(session, brand_id, coalesced)
    }
    rows = [
        DistributorTraceRow(
            distributor_id=d,
            units_held=held.get(d, 0),
            units_scanned=scanned[d].units if d in scanned else 0,
            scans=scanned[d].scans if d in scanned else 0,
        )
        for d in {*held, *scanned}
    ]
    return sorted(rows, key=lambda r: (-r.units_held, -r.units_scanned, str(r.distributor_id)))


def _with(trace: ForwardTrace, total: int, **lists: Any) -> ForwardTrace:
    return replace(trace, detail_total=total, **lists)


async def _batch_rows(
    session: AsyncSession,
    batches: list[Batch],
    consumed: dict[uuid.UUID, list[tuple[uuid.UUID, float, str | None]]],
    ranges: list[CodeRange],
    counts: dict[uuid.UUID | None, RangeScanCounts],
    *,
    limit: int,
    offset: int,
) -> list[BatchTraceRow]:
    page = batches[offset : offset + limit]
    by_batch: dict[uuid.UUID | None, list[CodeRange]] = defaultdict(list)
    for r in ranges:
        by_batch[r.batch_id].append(r)
    gtins = {
        p.id: p.gtin
        for p in (
            await session.execute(
                select(Product).where(Product.id.in_({b.product_id for b in page}))
            )
        ).scalars()
    }
    rows: list[BatchTraceRow] = []
    for batch in page:
        own = by_batch.get(batch.id, [])
        scanned = counts.get(batch.id, RangeScanCounts(0, 0))
        uses = consumed.get(batch.id) or []
        rows.append(
            BatchTraceRow(
                batch_id=batch.id,
                lot=batch.lot,
                product_id=batch.product_id,
                gtin=gtins[batch.product_id],
                consumed_quantity=sum(q for _, q, _ in uses) if uses else None,
                consumed_unit=uses[0][2] if uses else None,
                code_ranges=len(own),
                units_issued=sum(r.count for r in own),
                units_active=sum(r.active for r in own),
                units_scanned=scanned.units_scanned,
                scans=scanned.scans,
            )
        )
    return rows


async def _counts_by_batch(
    session: AsyncSession, sources: TraceSources, ranges: list[CodeRange]
) -> dict[uuid.UUID | None, RangeScanCounts]:
    """Units scanned and scans per batch: its ranges coalesced, one UNION ALL query per 200
    ranges (each an index range scan), never a query per batch or per code."""
    by_batch: dict[uuid.UUID | None, list[CodeRange]] = defaultdict(list)
    for r in ranges:
        by_batch[r.batch_id].append(r)
    flat: list[tuple[int, int]] = []
    owners: list[uuid.UUID | None] = []
    for batch_id, own in by_batch.items():
        for interval in coalesce_code_ids(own):
            flat.append(interval)
            owners.append(batch_id)
    totals: dict[uuid.UUID | None, RangeScanCounts] = {}
    for owner, c in zip(
        owners, await sources.scans.scan_counts_in_ranges(session, flat), strict=True
    ):
        before = totals.get(owner, RangeScanCounts(0, 0))
        totals[owner] = RangeScanCounts(
            before.units_scanned + c.units_scanned, before.scans + c.scans
        )
    return totals


async def _with_serials(
    session: AsyncSession, keyring: Keyring, scans: list[ScanRow]
) -> list[TraceScan]:
    """Attach each scanned code's GTIN and serial (re-derived from its id: nothing stored)."""
    out: list[TraceScan] = []
    gtin_of: dict[int, str | None] = {}
    for scan in scans:
        kid, index = split_code_id(scan.code_id)
        if scan.code_id not in gtin_of:
            product_gtin = (
                await session.execute(
                    select(Product.gtin)
                    .join(CodeRoll, CodeRoll.product_id == Product.id)
                    .where(CodeRoll.kid == kid, CodeRoll.first_index <= index)
                    .order_by(CodeRoll.first_index.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
            gtin_of[scan.code_id] = product_gtin
        gtin = gtin_of[scan.code_id]
        key = keyring.get(kid)
        serial = encode_code(key, index, gtin) if key is not None and gtin else None
        out.append(TraceScan(scan, serial, gtin))
    return out
