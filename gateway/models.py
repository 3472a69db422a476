"""Tables owned by the scan gateway: the scan log, first scans, counterfeit attempts, and the
ledgers that keep what a scan produced recoverable after a crash."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Float, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kernel.db import Base, BigIntPK

__all__ = ["CodeFirstScan", "CounterfeitAttempt", "CounterfeitFlush", "Scan", "ScanFollowup"]


class Scan(Base):
    """Append-only scan log: one row per answered consumer scan of a genuine-format code."""

    __tablename__ = "scans"
    __table_args__ = (
        Index("ix_scans_code_id_scanned_at", "code_id", "scanned_at"),
        Index("ix_scans_brand_id_scanned_at", "brand_id", "scanned_at"),
        # With the partition key (PostgreSQL partitions scans by month) and brand_id (Citus
        # distributes it by brand): a unique key must contain both (kernel/partitions.py).
        UniqueConstraint("scan_uid", "scanned_at", "brand_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    scan_uid: Mapped[uuid.UUID]
    scanned_at: Mapped[datetime]
    code_id: Mapped[int] = mapped_column(BigInteger)
    brand_id: Mapped[uuid.UUID]
    product_id: Mapped[uuid.UUID]
    roll_id: Mapped[uuid.UUID]
    verdict: Mapped[str] = mapped_column(String(20))
    device_hash: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str] = mapped_column(String(45))
    country: Mapped[str | None] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(String(10))
    city: Mapped[str | None] = mapped_column(String(100))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    location_source: Mapped[str] = mapped_column(String(8), default="none")
    location_confidence: Mapped[float | None] = mapped_column(Float)
    channel: Mapped[str] = mapped_column(String(8))  # json | html
    user_agent: Mapped[str | None] = mapped_column(String(200))
    # Channel context resolved on the scan path (channel_control's "where should it be"):
    # the distributor and shipment the unit was last sent to, and whether the scan's region
    # lies outside that distributor's territory (None: unknown, e.g. no location or no shipment).
    distributor_id: Mapped[uuid.UUID | None]
    shipment_id: Mapped[uuid.UUID | None]
    diverted: Mapped[bool | None]
    # The active recall covering this code when it was scanned (a "recall hit").
    recall_id: Mapped[uuid.UUID | None] = mapped_column(index=True)


class CodeFirstScan(Base):
    """The first scan of each code: the primary key makes "genuine" happen exactly once.

    Redis answers "first?" fast; this row is the truth when Redis has lost its memory.
    """

    __tablename__ = "code_first_scans"

    code_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    brand_id: Mapped[uuid.UUID] = mapped_column(index=True)
    scan_uid: Mapped[uuid.UUID]
    scanned_at: Mapped[datetime]
    device_hash: Mapped[str] = mapped_column(String(64))
    country: Mapped[str | None] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(String(10))
    city: Mapped[str | None] = mapped_column(String(100))


class CounterfeitAttempt(Base):
    """Forged-code scans aggregated per hour, GTIN, client IP and reason (not one row each)."""

    __tablename__ = "counterfeit_attempts"
    __table_args__ = (UniqueConstraint("bucket_start", "gtin", "ip", "reason"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    bucket_start: Mapped[datetime] = mapped_column(index=True)
    gtin: Mapped[str] = mapped_column(String(14))
    ip: Mapped[str] = mapped_column(String(45))
    reason: Mapped[str] = mapped_column(String(30))
    brand_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    product_id: Mapped[uuid.UUID | None]
    count: Mapped[int] = mapped_column(Integer)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]


class ScanFollowup(Base):
    """A logged scan whose channel consequences (diversion signal, tally) are not yet written.

    Inserted in the scan log's own transaction for every located scan of a shipped unit, and
    deleted by the transaction that writes its consequences: a row here after a crash is a
    scan to rebuild them from (``gateway.followups``); deleting it is what makes them
    exactly-once.
    """

    __tablename__ = "scan_followups"

    scan_uid: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    scanned_at: Mapped[datetime]


class CounterfeitFlush(Base):
    """A counterfeit journal segment whose tallies are committed (``gateway.counterfeits``):
    a segment found on disk after a crash is replayed only when its id is not here."""

    __tablename__ = "counterfeit_flushes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    flushed_at: Mapped[datetime] = mapped_column(index=True)
