"""Tables owned by admin_api: users of the admin API."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from kernel.db import Base, UUIDPrimaryKey, utcnow

__all__ = ["User"]


class User(UUIDPrimaryKey, Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "(role = 'platform_admin' AND brand_id IS NULL) OR "
            "(role <> 'platform_admin' AND brand_id IS NOT NULL)",
            name="brand_matches_role",
        ),
    )

    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(30))
    brand_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("brands.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
