"""Tables owned by channel_control: distributors, their user links and machine credentials.

A territory is small (a handful of regions, cities and fences) and always read whole, so it
is one JSON document on the distributor row rather than child tables."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from kernel.db import Base, BigIntPK, UUIDPrimaryKey, utcnow

__all__ = [
    "DiversionAlert",
    "DiversionAlertEvent",
    "DiversionAlertStatus",
    "DiversionRule",
    "DiversionSignal",
    "DiversionTally",
]


# ---------------------------------------------------------------------------------------------
# Diversion detection (channel_control/diversion.py)
# ---------------------------------------------------------------------------------------------
class DiversionSignal(Base):
    """One consumer scan of a shipped unit outside its distributor's territory, with evidence.

    Written in batches by ``DiversionRecorder`` (never on the request path). ``area`` is the
    observed region, else the observed country, else ``GPS`` (a fix outside every geofence
    with no region known): the key alerts group by. ``alert_id`` is set once an alert takes
    the signal in.

    ``scan_uid`` names the scan in the gateway's log; it is not unique-indexed: taking the
    scan's follow-up (``gateway.followups``) in the transaction that writes the signal is what
    keeps it from being stored twice, and a unique index on a random UUID was the costliest
    write of a signal.
    """

    __tablename__ = "diversion_signals"
    __table_args__ = (
        Index("ix_diversion_signals_alert_id_code_id", "alert_id", "code_id"),
        # The rules read and attach only signals no alert holds yet: a partial index keeps
        # their queries proportional to new signals (a full group index walked every signal
        # of the window, attached or not), and signals inserted already attached to an open
        # alert (most of them on a promotion day) cost no entry in it.
        Index(
            "ix_diversion_signals_pending",
            "brand_id",
            "distributor_id",
            "area",
            "observed_at",
            postgresql_where=text("alert_id IS NULL"),
            sqlite_where=text("alert_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    brand_id: Mapped[uuid.UUID]
    scan_uid: Mapped[uuid.UUID]
    observed_at: Mapped[datetime]
    code_id: Mapped[int] = mapped_column(BigInteger)
    serial: Mapped[str] = mapped_column(String(20))
    gtin: Mapped[str] = mapped_column(String(14))
    product_id: Mapped[uuid.UUID]
    product_name: Mapped[str] = mapped_column(String(200))
    batch_id: Mapped[uuid.UUID | None]
    lot: Mapped[str | None] = mapped_column(String(40))
    distributor_id: Mapped[uuid.UUID]
    distributor_name: Mapped[str] = mapped_column(String(200))
    shipment_id: Mapped[uuid.UUID]
    document_number: Mapped[str] = mapped_column(String(100))
    expected_territory: Mapped[dict[str, Any]] = mapped_column(JSON)
    area: Mapped[str] = mapped_column(String(10))
    country: Mapped[str | None] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(String(10))
    city: Mapped[str | None] = mapped_column(String(100))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    location_source: Mapped[str] = mapped_column(String(8))
    location_confidence: Mapped[float] = mapped_column(Float)
    alert_id: Mapped[uuid.UUID | None]


class DiversionAlertStatus(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"


class DiversionAlert(UUIDPrimaryKey, Base):
    """Signals of one distributor's units in one foreign area, grouped by the brand's rule.

    ``open_key`` is ``brand:distributor:area`` while the alert is open or acknowledged and
    NULL once closed: its unique constraint keeps two workers from opening the same alert.
    """

    __tablename__ = "diversion_alerts"
    __table_args__ = (
        CheckConstraint(
            "status IN ('open', 'acknowledged', 'confirmed', 'dismissed')", name="status_known"
        ),
        Index("ix_diversion_alerts_brand_id_opened_at", "brand_id", "opened_at"),
    )

    brand_id: Mapped[uuid.UUID]
    distributor_id: Mapped[uuid.UUID]
    distributor_name: Mapped[str] = mapped_column(String(200))
    area: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20), default="open")
    open_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    distinct_codes: Mapped[int] = mapped_column(Integer)
    signal_count: Mapped[int] = mapped_column(Integer)
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    rule: Mapped[dict[str, Any]] = mapped_column(JSON)  # the rule that opened it, as it was
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(100))


class DiversionAlertEvent(Base):
    """The alert's history: opened, each transition and each note, with who and when."""

    __tablename__ = "diversion_alert_events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    alert_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("diversion_alerts.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    action: Mapped[str] = mapped_column(String(20))  # opened | acknowledge | confirm | ...
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[uuid.UUID | None]
    actor_name: Mapped[str] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)


class DiversionRule(Base):
    """A brand's alert rule; a brand without a row uses the defaults (``diversion.py``)."""

    __tablename__ = "diversion_rules"

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id"), primary_key=True)
    min_distinct_codes: Mapped[int] = mapped_column(Integer)
    window_hours: Mapped[int] = mapped_column(Integer)
    min_confidence: Mapped[float] = mapped_column(Float)
    enabled: Mapped[bool]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DiversionTally(Base):
    """Located scans and diverted scans of one distributor's units per hour and area.

    The denominator of the diversion rate, the map and the time series: upserted by the
    recorder's batch writer, so the dashboards never read the gateway's scan log.
    """

    __tablename__ = "diversion_tallies"

    brand_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    distributor_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    bucket_start: Mapped[datetime] = mapped_column(primary_key=True)  # the hour
    area: Mapped[str] = mapped_column(String(10), primary_key=True)
    located: Mapped[int] = mapped_column(Integer)
    diverted: Mapped[int] = mapped_column(Integer)
