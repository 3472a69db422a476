"""Audit trail: who did what to which object, written in the same transaction as the change."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from kernel.auth import Principal
from kernel.db import Base, BigIntPK, utcnow

__all__ = ["AuditEntry", "record_audit"]


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[uuid.UUID | None]
    actor_name: Mapped[str] = mapped_column(String(100))
    brand_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    action: Mapped[str] = mapped_column(String(100))
    target_type: Mapped[str] = mapped_column(String(50))
    target_id: Mapped[str] = mapped_column(String(100))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


def record_audit(
    session: AsyncSession,
    actor: Principal | None,
    action: str,
    *,
    target_type: str,
    target_id: object,
    brand_id: uuid.UUID | None,
    details: dict[str, Any] | None = None,
) -> None:
    """Add an audit row to the caller's unit of work (flushed and committed with it)."""
    session.add(
        AuditEntry(
            at=utcnow(),
            actor_id=actor.subject if actor else None,
            actor_name=actor.username if actor else "system",
            brand_id=brand_id,
            action=action,
            target_type=target_type,
            target_id=str(target_id),
            details=details or {},
        )
    )
