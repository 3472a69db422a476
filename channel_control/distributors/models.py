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
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from kernel.db import Base, UUIDPrimaryKey, utcnow

__all__ = ["Distributor", "DistributorApiKey", "DistributorLevel", "DistributorUser"]


class DistributorLevel(enum.StrEnum):
    NATIONAL = "national"
    REGIONAL = "regional"
    RETAILER = "retailer"


class Distributor(UUIDPrimaryKey, Base):
    __tablename__ = "distributors"
    __table_args__ = (
        UniqueConstraint("brand_id", "code"),
        CheckConstraint("level IN ('national', 'regional', 'retailer')", name="level_known"),
        CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
        Index("ix_distributors_brand_id_parent_id", "brand_id", "parent_id"),
    )

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id"))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("distributors.id"))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(20))
    contact: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    territory: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    deactivated_at: Mapped[datetime | None]


class DistributorUser(Base):
    """Binds a ``distributor`` user account (admin_api's ``users``) to one distributor."""

    __tablename__ = "distributor_users"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    distributor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("distributors.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DistributorApiKey(UUIDPrimaryKey, Base):
    """A machine credential; the secret itself is never stored, only its SHA-256."""

    __tablename__ = "distributor_api_keys"

    brand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("brands.id"))
    distributor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("distributors.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[uuid.UUID | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
