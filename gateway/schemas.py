"""Request and response shapes of the consumer scan API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from gateway.service import ScanOutcome

__all__ = [
    "RECALL_MESSAGE",
    "VERDICT_MESSAGES",
    "GpsIn",
    "ScanIn",
    "ScanRecallOut",
    "ScanResult",
    "to_result",
]

VERDICT_MESSAGES = {
    "genuine": "Genuine product. This is the first time this code has been checked.",
    "already_scanned": "Genuine code, checked before. If you did not check it yourself, "
    "ask the seller: a code is meant to be checked once.",
    "suspicious": "This code has been checked on many different phones. It may have been "
    "copied; be careful and contact the brand.",
    "counterfeit": "This code was not issued by the brand. The product may be counterfeit.",
    "inactive": "This code has not been released for sale yet. Do not buy this product; "
    "contact the brand.",
    "void": "This code has been withdrawn by the brand.",
}

RECALL_MESSAGE = (
    "This product has been recalled by the brand. Do not use it; follow the instructions below."
)


class GpsIn(msgspec.Struct, forbid_unknown_fields=True):
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    lon: Annotated[float, msgspec.Meta(ge=-180, le=180)]
    accuracy_m: Annotated[float, msgspec.Meta(ge=0, le=100_000)] | None = None


class ScanIn(msgspec.Struct, forbid_unknown_fields=True):
    """A scan from the mini-program: the QR content and the app's device id."""

    url: Annotated[
        str,
        msgspec.Meta(
            min_length=5, max_length=512, description="Scanned content: a GS1 Digital Link URL"
        ),
    ]
    device_id: Annotated[
        str,
        msgspec.Meta(
            min_length=1, max_length=128, description="Stable per-install id (e.g. hashed openid)"
        ),
    ]
    location: GpsIn | None = None


class ScanProductOut(msgspec.Struct):
    gtin: str
    name: str
    brand: str | None
    description: str | None
    image_url: str | None


class ScanBatchOut(msgspec.Struct):
    lot: str
    production_date: str
    expiry_date: str | None


class ScanHistoryOut(msgspec.Struct):
    count: int
    first_scanned_at: datetime | None
    first_place: str | None


class ScanRecallOut(msgspec.Struct):
    """Shown with every verdict while an active recall covers the scanned code."""

    id: uuid.UUID
    severity: str  # critical | high | medium | low
    message: str
    reason: str
    instructions: str  # what the consumer should do
    since: str | None  # when the recall became active (ISO 8601)


class ScanResult(msgspec.Struct, omit_defaults=True):
    verdict: str
    message: str
    gtin: str
    serial: str | None
    checked_at: datetime
    scan_id: uuid.UUID | None = None
    reason: str | None = None
    product: ScanProductOut | None = None
    batch: ScanBatchOut | None = None
    scans: ScanHistoryOut | None = None
    void_reason: str | None = None
    recall: ScanRecallOut | None = None


def to_result(outcome: ScanOutcome, checked_at: datetime) -> ScanResult:
    product = outcome.product
    batch = outcome.batch
    stats = outcome.stats
    recall = outcome.recall
    return ScanResult(
        verdict=outcome.verdict,
        message=VERDICT_MESSAGES[outcome.verdict],
        gtin=outcome.gtin,
        serial=outcome.serial,
        checked_at=checked_at,
        scan_id=outcome.scan_id,
        reason=outcome.reason,
        product=ScanProductOut(
            product.gtin, product.name, outcome.brand_name, product.description, product.image_url
        )
        if product
        else None,
        batch=ScanBatchOut(batch.lot, batch.production_date, batch.expiry_date) if batch else None,
        scans=ScanHistoryOut(stats.count, stats.first_scanned_at, stats.first_place)
        if stats and outcome.verdict in ("already_scanned", "suspicious", "genuine")
        else None,
        void_reason=outcome.void_reason,
        recall=ScanRecallOut(
            recall.id,
            recall.severity,
            RECALL_MESSAGE,
            recall.reason,
            recall.consumer_instructions,
            recall.activated_at,
        )
        if recall
        else None,
    )
