"""Request and response bodies of the diversion API (alerts, rule, statistics)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from channel_control.diversion.models import DiversionAlert, DiversionAlertEvent, DiversionSignal
from kernel.pagination import Page

__all__ = [
    "AlertDetail",
    "AlertEventOut",
    "AlertOut",
    "MapCell",
    "NoteIn",
    "RateOut",
    "RuleIn",
    "RuleOut",
    "SeriesPoint",
    "SignalOut",
    "TransitionIn",
]

Note = Annotated[str, Meta(min_length=1, max_length=2000)]


class TransitionIn(msgspec.Struct, forbid_unknown_fields=True):
    note: Note | None = None


class NoteIn(msgspec.Struct, forbid_unknown_fields=True):
    note: Note


class RuleIn(msgspec.Struct, forbid_unknown_fields=True):
    min_distinct_codes: Annotated[int, Meta(ge=1, le=10_000)] = 3
    window_hours: Annotated[int, Meta(ge=1, le=24 * 90)] = 72
    min_confidence: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.0
    enabled: bool = True


class RuleOut(msgspec.Struct):
    min_distinct_codes: int
    window_hours: int
    min_confidence: float
    enabled: bool
    is_default: bool


class AlertOut(msgspec.Struct):
    id: uuid.UUID
    status: str
    distributor_id: uuid.UUID
    distributor_name: str
    area: str  # the observed region (ISO 3166-2), else country, else GPS
    distinct_codes: int
    signal_count: int
    first_seen_at: datetime
    last_seen_at: datetime
    opened_at: datetime
    updated_at: datetime
    updated_by: str | None
    rule: dict[str, Any]

    @classmethod
    def of(cls, alert: DiversionAlert) -> AlertOut:
        return cls(
            id=alert.id,
            status=alert.status,
            distributor_id=alert.distributor_id,
            distributor_name=alert.distributor_name,
            area=alert.area,
            distinct_codes=alert.distinct_codes,
            signal_count=alert.signal_count,
            first_seen_at=alert.first_seen_at,
            last_seen_at=alert.last_seen_at,
            opened_at=alert.opened_at,
            updated_at=alert.updated_at,
            updated_by=alert.updated_by,
            rule=alert.rule,
        )


class AlertPage(Page[AlertOut], kw_only=True):
    """One page of alert entries."""

    items: list[AlertOut]


class SignalOut(msgspec.Struct):
    """One piece of evidence: a scan of a shipped unit outside its territory."""

    scan_id: uuid.UUID
    observed_at: datetime
    code_id: int
    serial: str
    gtin: str
    product_id: uuid.UUID
    product_name: str
    batch_id: uuid.UUID | None
    lot: str | None
    shipment_id: uuid.UUID
    document_number: str
    distributor_id: uuid.UUID
    distributor_name: str
    expected_territory: dict[str, Any]
    country: str | None
    region: str | None
    city: str | None
    lat: float | None
    lon: float | None
    location_source: str
    location_confidence: float

    @classmethod
    def of(cls, s: DiversionSignal) -> SignalOut:
        return cls(
            scan_id=s.scan_uid,
            observed_at=s.observed_at,
            code_id=s.code_id,
            serial=s.serial,
            gtin=s.gtin,
            product_id=s.product_id,
            product_name=s.product_name,
            batch_id=s.batch_id,
            lot=s.lot,
            shipment_id=s.shipment_id,
            document_number=s.document_number,
            distributor_id=s.distributor_id,
            distributor_name=s.distributor_name,
            expected_territory=s.expected_territory,
            country=s.country,
            region=s.region,
            city=s.city,
            lat=s.lat,
            lon=s.lon,
            location_source=s.location_source,
            location_confidence=s.location_confidence,
        )


class AlertEventOut(msgspec.Struct):
    at: datetime
    action: str
    from_status: str | None
    to_status: str
    actor_id: uuid.UUID | None
    actor_name: str
    note: str | None

    @classmethod
    def of(cls, e: DiversionAlertEvent) -> AlertEventOut:
        return cls(
            at=e.at,
            action=e.action,
            from_status=e.from_status,
            to_status=e.to_status,
            actor_id=e.actor_id,
            actor_name=e.actor_name,
            note=e.note,
        )


class AlertDetail(msgspec.Struct):
    alert: AlertOut
    history: list[AlertEventOut]
    signals: list[SignalOut]  # newest first, at most ``signal_limit``
    signal_total: int


class RateOut(msgspec.Struct):
    distributor_id: uuid.UUID
    distributor_name: str | None
    located_scans: int
    diverted_scans: int
    rate: float  # diverted / located


class MapCell(msgspec.Struct):
    distributor_id: uuid.UUID
    area: str
    located_scans: int
    diverted_scans: int


class SeriesPoint(msgspec.Struct):
    bucket_start: datetime
    located_scans: int
    diverted_scans: int
    rate: float
