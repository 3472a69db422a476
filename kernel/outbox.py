"""Transactional outbox: domain events written in the same transaction as the change.

A service that changes something others must hear about (a recall starts, a diversion alert
opens, points are held) calls ``emit`` with the caller's session; the event row commits or
rolls back with the change itself, so there is never a notification about a change that did
not happen, nor a change whose notification is lost. Delivery (webhooks, inboxes, WeChat
messages) is a separate worker reading this table in ``id`` order; it owns its own delivery
state, so this table stays append-only.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, UniqueConstraint
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from kernel.db import Base, BigIntPK, utcnow

__all__ = ["OutboxEvent", "emit"]


class OutboxEvent(Base):
    """One domain event. ``id`` orders events; ``event_uid`` is the receivers' idempotency key."""

    __tablename__ = "outbox_events"
    # With the partition key: PostgreSQL partitions the outbox by month (kernel/partitions.py).
    __table_args__ = (UniqueConstraint("event_uid", "created_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    event_uid: Mapped[uuid.UUID]
    brand_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    event_type: Mapped[str] = mapped_column(String(100))  # e.g. recall.started
    subject_type: Mapped[str] = mapped_column(String(50))  # e.g. recall
    subject_id: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(index=True)


def emit(
    session: AsyncSession,
    *,
    brand_id: uuid.UUID | None,
    event_type: str,
    subject_type: str,
    subject_id: object,
    payload: dict[str, Any],
) -> OutboxEvent:
    """Add an event to the caller's unit of work; it is visible to the worker after commit."""
    event = OutboxEvent(
        event_uid=uuid.uuid4(),
        brand_id=brand_id,
        event_type=event_type,
        subject_type=subject_type,
        subject_id=str(subject_id),
        payload=payload,
        created_at=utcnow(),
    )
    session.add(event)
    return event
