"""Inboxes: a distributor's API inbox and a web consumer's in-app inbox (own entries only)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from admin_api.notifications.models import ConsumerInboxEntry, DistributorInboxEntry
from kernel.db import utcnow
from kernel.errors import NotFound
from kernel.pagination import fetch_page

__all__ = [
    "list_consumer_inbox",
    "list_distributor_inbox",
    "mark_consumer_read",
    "mark_distributor_read",
]


def _not_found() -> NotFound:
    return NotFound("inbox entry not found", code="inbox_entry_not_found")


async def list_distributor_inbox(
    session: AsyncSession,
    brand_id: uuid.UUID,
    distributor_id: uuid.UUID,
    *,
    unread_only: bool,
    event_type: str | None,
    limit: int,
    offset: int,
) -> tuple[list[DistributorInboxEntry], int]:
    """The distributor's own entries, newest first."""
    E = DistributorInboxEntry
    query: Select[Any] = (
        select(E)
        .where(E.brand_id == brand_id, E.distributor_id == distributor_id)
        .order_by(E.id.desc())
    )
    if unread_only:
        query = query.where(E.read_at.is_(None))
    if event_type is not None:
        query = query.where(E.event_type == event_type)
    return await fetch_page(session, query, limit=limit, offset=offset)


async def mark_distributor_read(
    session: AsyncSession, brand_id: uuid.UUID, distributor_id: uuid.UUID, entry_id: int
) -> DistributorInboxEntry:
    """Mark one of the distributor's own entries read (idempotent); others' are 404."""
    E = DistributorInboxEntry
    entry = await session.scalar(
        select(E).where(
            E.id == entry_id, E.brand_id == brand_id, E.distributor_id == distributor_id
        )
    )
    if entry is None:
        raise _not_found()
    if entry.read_at is None:
        entry.read_at = utcnow()
        await session.flush()
    return entry


async def list_consumer_inbox(
    session: AsyncSession, device_hash: str, *, unread_only: bool, limit: int, offset: int
) -> tuple[list[ConsumerInboxEntry], int]:
    """The device's own entries, newest first."""
    E = ConsumerInboxEntry
    query: Select[Any] = select(E).where(E.device_hash == device_hash).order_by(E.id.desc())
    if unread_only:
        query = query.where(E.read_at.is_(None))
    return await fetch_page(session, query, limit=limit, offset=offset)


async def mark_consumer_read(session: AsyncSession, device_hash: str, entry_id: int | None) -> int:
    """Mark one entry (or, with ``None``, all) of the device read; the count changed.

    A missing or foreign ``entry_id`` is 404.
    """
    E = ConsumerInboxEntry
    conditions: list[ColumnElement[bool]] = [E.device_hash == device_hash]
    if entry_id is not None:
        owned = await session.scalar(select(E.id).where(E.id == entry_id, *conditions))
        if owned is None:
            raise _not_found()
        conditions.append(E.id == entry_id)
    result = await session.execute(
        update(E)
        .where(*conditions, E.read_at.is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
