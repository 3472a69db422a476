"""EPCIS 2.0 export (JSON-LD) of a batch's or a single code's history.

Events, oldest first:
- ``ObjectEvent`` ADD, bizStep ``encoding``, disposition ``encoded``: codes issued (a roll).
- ``ObjectEvent`` ADD, bizStep ``commissioning``, disposition ``active``: codes activated.
- ``ObjectEvent`` DELETE, bizStep ``decommissioning``, disposition ``inactive``: codes voided.
- ``ObjectEvent`` OBSERVE, bizStep ``holding``, disposition ``recalled``: a recall became active
  over the codes (and, when closed, nothing is "un-recalled": EPCIS history is append-only).
- Packing/unpacking (``AggregationEvent``) and shipping/receiving (``ObjectEvent`` OBSERVE)
  come from channel_control's history (``ChannelSource`` of ``anticounterfeit.trace.ports``).

Identifiers are GS1 Digital Link URIs on the brand's resolver
(``settings.gateway.resolver_base_url``):
instance level ``{base}/01/{gtin}/21/{serial}`` (``epcList``) for a single code, class level
``{base}/01/{gtin}/10/{lot}`` with a ``quantityList`` for ranges (10 million codes are one
quantity, never a list). Event ids are stable ``urn:uuid:`` (UUID v5 of what they describe).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from anticounterfeit.catalogue.models import Batch, Product
from anticounterfeit.codes.models import CodeRangeEvent, CodeRoll, RangeAction
from anticounterfeit.gs1.digital_link import digital_link_prefix, format_digital_link
from anticounterfeit.trace import genealogy, recalls
from anticounterfeit.trace.code_ranges import CodeRange
from anticounterfeit.trace.models import Recall
from anticounterfeit.trace.ports import (
    PackingPeriod,
    RangePacking,
    RangeShipment,
    ShipmentFacts,
    TraceSources,
)
from anticounterfeit.trace.traces import ResolvedCode
from kernel.db import utcnow
from kernel.errors import NotFound

__all__ = ["EPCIS_CONTEXT", "EPCIS_MEDIA_TYPE", "batch_document", "code_document"]

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
EPCIS_MEDIA_TYPE = "application/ld+json"
_STEP_ORDER = {
    "encoding": 0,
    "commissioning": 1,
    "packing": 2,
    "shipping": 3,
    "receiving": 4,
    "unpacking": 5,
    "decommissioning": 6,
    "holding": 7,
}
_EVENT_NS = uuid.UUID("6f1b1f0e-8d55-4a8e-9a43-5c1d3b1e2a77")


@dataclass(frozen=True, slots=True)
class _Interval:
    """Codes ``[start, end)`` of one roll (sequence numbers)."""

    roll_id: uuid.UUID
    start: int
    end: int


def _time(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _event(
    kind: str,
    action: str,
    when: datetime,
    biz_step: str,
    disposition: str | None,
    identity: str,
    what: dict[str, Any],
) -> dict[str, Any]:
    event = {
        "type": kind,
        "eventTime": _time(when),
        "eventTimeZoneOffset": "+00:00",
        "eventID": f"urn:uuid:{uuid.uuid5(_EVENT_NS, identity)}",
        **what,
        "action": action,
        "bizStep": biz_step,
    }
    if disposition is not None:
        event["disposition"] = disposition
    return event


def _document(events: list[dict[str, Any]]) -> dict[str, Any]:
    # Same instant (a roll issued and activated in one call): lifecycle order decides.
    events.sort(key=lambda e: (e["eventTime"], _STEP_ORDER.get(e["bizStep"], 9), e["eventID"]))
    return {
        "@context": [EPCIS_CONTEXT],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": _time(utcnow()),
        "epcisBody": {"eventList": events},
    }


async def _range_events(
    session: AsyncSession, intervals: Sequence[_Interval]
) -> list[tuple[CodeRangeEvent, _Interval, int]]:
    """Activate / void events overlapping the intervals, with the overlap size."""
    if not intervals:
        return []
    rows = await session.execute(
        select(CodeRangeEvent)
        .where(
            CodeRangeEvent.roll_id.in_({i.roll_id for i in intervals}),
            CodeRangeEvent.action.in_((RangeAction.ACTIVATE, RangeAction.VOID)),
        )
        .order_by(CodeRangeEvent.id)
    )
    out: list[tuple[CodeRangeEvent, _Interval, int]] = []
    for event in rows.scalars():
        for interval in intervals:
            if interval.roll_id != event.roll_id:
                continue
            overlap = min(event.seq_end, interval.end) - max(event.seq_start, interval.start)
            if overlap > 0:
                out.append((event, interval, overlap))
    return out


def _lifecycle_events(
    ranges: Sequence[CodeRange],
    range_events: list[tuple[CodeRangeEvent, _Interval, int]],
    what: Any,
) -> list[dict[str, Any]]:
    """Issuance per range, then activation / void per range event; ``what(n)`` gives the
    identifier block for ``n`` codes (an epcList or a quantityList)."""
    events = [
        _event(
            "ObjectEvent",
            "ADD",
            r.issued_at,
            "encoding",
            "encoded",
            f"issue:{r.roll_id}:{r.seq_start}:{r.seq_end}",
            what(r.count),
        )
        for r in ranges
    ]
    for event, interval, overlap in range_events:
        activate = event.action == RangeAction.ACTIVATE
        events.append(
            _event(
                "ObjectEvent",
                "ADD" if activate else "DELETE",
                event.created_at,
                "commissioning" if activate else "decommissioning",
                "active" if activate else "inactive",
                f"{event.action}:{event.id}:{interval.roll_id}:{interval.start}:{interval.end}",
                what(overlap),
            )
        )
    return events


def _recall_events(recalled: list[tuple[Recall, int]], what: Any) -> list[dict[str, Any]]:
    return [
        _event(
            "ObjectEvent",
            "OBSERVE",
            recall.activated_at,
            "holding",
            "recalled",
            f"recall:{recall.id}:{units}",
            what(units),
        )
        for recall, units in recalled
        if recall.activated_at is not None and units > 0
    ]


async def _recalls_over(
    session: AsyncSession, brand_id: uuid.UUID, intervals: Sequence[_Interval]
) -> list[tuple[Recall, int]]:
    """Recalls ever activated that cover codes of ``intervals``, with how many."""
    rows = await session.execute(
        select(Recall)
        .where(Recall.brand_id == brand_id, Recall.activated_at.is_not(None))
        .order_by(Recall.activated_at)
    )
    out: list[tuple[Recall, int]] = []
    for recall in rows.scalars():
        covered = 0
        batch_ids = await recalls.recall_batch_ids(session, recall)
        windows: list[tuple[uuid.UUID, int, int]] = []
        if batch_ids:
            windows += [
                (r.roll_id, r.seq_start, r.seq_end)
                for r in await genealogy.code_ranges_of_batches(session, brand_id, batch_ids)
            ]
        windows += await recalls.recall_range_scopes(session, recall)
        for interval in intervals:
            pieces = sorted(
                (max(s, interval.start), min(e, interval.end))
                for roll_id, s, e in windows
                if roll_id == interval.roll_id and min(e, interval.end) > max(s, interval.start)
            )
            end = interval.start
            for lo, hi in pieces:  # union of overlapping windows, counted once
                lo = max(lo, end)
                if hi > lo:
                    covered += hi - lo
                    end = hi
        out.append((recall, covered))
    return out


async def batch_document(
    session: AsyncSession,
    sources: TraceSources,
    resolver_base_url: str,
    brand_id: uuid.UUID,
    batch_id: uuid.UUID,
) -> dict[str, Any]:
    """The EPCIS document of a batch: class-level events over its code ranges."""
    batch = (
        await session.execute(select(Batch).where(Batch.id == batch_id, Batch.brand_id == brand_id))
    ).scalar_one_or_none()
    if batch is None:
        raise NotFound("batch not found", code="batch_not_found")
    product = await session.get(Product, batch.product_id)
    assert product is not None  # foreign key
    epc_class = digital_link_prefix(resolver_base_url, product.gtin, batch.lot).removesuffix("/21/")

    def what(n: int) -> dict[str, Any]:
        return {"quantityList": [{"epcClass": epc_class, "quantity": n}]}

    ranges = await genealogy.code_ranges_of_batches(session, brand_id, [batch_id])
    intervals = [_Interval(r.roll_id, r.seq_start, r.seq_end) for r in ranges]
    events = _lifecycle_events(ranges, await _range_events(session, intervals), what)
    events += _recall_events(await _recalls_over(session, brand_id, intervals), what)
    packings, moved = await sources.channel.range_channel_history(
        session, brand_id, [(r.lo_code_id, r.hi_code_id) for r in ranges]
    )
    events += _range_channel_events(resolver_base_url, epc_class, packings, moved)
    return _document(events)


def _container_uri(resolver_base_url: str, label: str) -> str:
    """A container label (``(01)gtin(21)serial`` of a case code, or an SSCC) as Digital Link."""
    if label.startswith("(01)") and "(21)" in label:
        gtin, serial = label[4:].split("(21)", 1)
        return format_digital_link(resolver_base_url, gtin, serial)
    return f"{resolver_base_url.rstrip('/')}/00/{label}"


def _channel_events(
    resolver_base_url: str,
    epc: str,
    periods: Sequence[PackingPeriod],
    chain: Sequence[ShipmentFacts],
) -> list[dict[str, Any]]:
    """Packing / unpacking (AggregationEvent) and shipping / receiving (ObjectEvent OBSERVE)
    of one unit, from channel_control's history of it."""
    labels = {p.parent_id: p.parent_label for p in periods}
    events: list[dict[str, Any]] = []
    for p in periods:
        if p.child_container_id is not None:  # its case on a pallet
            if p.child_container_id not in labels:
                continue
            child = _container_uri(resolver_base_url, labels[p.child_container_id])
        else:
            child = epc
        packed: dict[str, Any] = {
            "parentID": _container_uri(resolver_base_url, p.parent_label),
            "childEPCs": [child],
        }
        events += _packing_events(p, packed, f"{p.packed_operation_id}:{p.parent_id}:{child}")
    for shipment in chain:
        events += _shipping_events(shipment, {"epcList": [epc]}, epc)
    return events


def _packing_events(
    period: PackingPeriod | RangePacking, what: dict[str, Any], ident: str
) -> list[dict[str, Any]]:
    """AggregationEvent ADD (packing) and, once unpacked, DELETE (unpacking) of ``what``."""
    events = [
        _event("AggregationEvent", "ADD", period.packed_at, "packing", None, "pack:" + ident, what)
    ]
    if period.unpacked_at is not None:
        events.append(
            _event(
                "AggregationEvent",
                "DELETE",
                period.unpacked_at,
                "unpacking",
                None,
                f"unpack:{period.unpacked_operation_id}:{ident}",
                what,
            )
        )
    return events


def _shipping_events(
    shipment: ShipmentFacts, what: dict[str, Any], subject: str
) -> list[dict[str, Any]]:
    """Shipping (in_transit) and, once received, receiving of ``what`` by ``shipment``."""
    shipped: dict[str, Any] = {
        **what,
        "bizTransactionList": [{"type": "desadv", "bizTransaction": f"urn:uuid:{shipment.id}"}],
    }
    if shipment.to_distributor_id is not None:
        shipped["destinationList"] = [
            {"type": "owning_party", "destination": f"urn:uuid:{shipment.to_distributor_id}"}
        ]
    if shipment.from_distributor_id is not None:
        shipped["sourceList"] = [
            {"type": "owning_party", "source": f"urn:uuid:{shipment.from_distributor_id}"}
        ]
    events = [
        _event(
            "ObjectEvent",
            "OBSERVE",
            shipment.shipped_at,
            "shipping",
            "in_transit",
            f"ship:{shipment.id}:{subject}",
            shipped,
        )
    ]
    if shipment.received_at is not None:
        events.append(
            _event(
                "ObjectEvent",
                "OBSERVE",
                shipment.received_at,
                "receiving",
                "in_progress",
                f"receive:{shipment.id}:{subject}",
                shipped,
            )
        )
    return events


def _range_channel_events(
    resolver_base_url: str,
    epc_class: str,
    packings: Sequence[RangePacking],
    moved: Sequence[RangeShipment],
) -> list[dict[str, Any]]:
    """Class-level packing / unpacking and shipping / receiving of a batch's units."""
    events: list[dict[str, Any]] = []
    for p in packings:
        children: dict[str, Any] = (
            {"childEPCs": [_container_uri(resolver_base_url, p.child_label)]}
            if p.child_label
            else {"childQuantityList": [{"epcClass": epc_class, "quantity": p.units}]}
        )
        what = {"parentID": _container_uri(resolver_base_url, p.parent_label), **children}
        ident = f"{p.packed_operation_id}:{p.parent_label}:{p.child_label}:{epc_class}"
        events += _packing_events(p, what, ident)
    for m in moved:
        what = {"quantityList": [{"epcClass": epc_class, "quantity": m.units}]}
        events += _shipping_events(m.shipment, what, epc_class)
    return events


async def code_document(
    session: AsyncSession,
    resolver_base_url: str,
    code: ResolvedCode,
    *,
    periods: Sequence[PackingPeriod] = (),
    chain: Sequence[ShipmentFacts] = (),
) -> dict[str, Any]:
    """The EPCIS document of one code: instance-level events (its Digital Link in epcList),
    with its packing / shipping history (``periods`` and the shipments that carried it, in
    ``chain``, from channel_control)."""
    epc = format_digital_link(resolver_base_url, code.gtin, code.serial)
    seq = code.state.seq
    roll_id = code.meta.roll_id

    def what(n: int) -> dict[str, Any]:
        return {"epcList": [epc]}

    roll = await session.get(CodeRoll, roll_id)
    assert roll is not None  # the metadata came from it
    own = await genealogy.code_ranges_of_rolls(session, [(roll, seq, seq + 1)], None)
    intervals = [_Interval(roll_id, seq, seq + 1)]
    events = _lifecycle_events(own, await _range_events(session, intervals), what)
    events += _recall_events(await _recalls_over(session, code.meta.brand_id, intervals), what)
    events += _channel_events(resolver_base_url, epc, periods, chain)
    return _document(events)
