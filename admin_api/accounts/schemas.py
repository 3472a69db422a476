"""Request and response bodies of the admin API's own routes: login, users, audit."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from kernel.accounts import MIN_PASSWORD_LENGTH, User
from kernel.audit import AuditEntry
from kernel.auth import Principal
from kernel.pagination import Page

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "AdminTokenOut",
    "AuditEntryOut",
    "LoginRequest",
    "PrincipalOut",
    "UserCreate",
    "UserOut",
]


Username = Annotated[
    str,
    Meta(
        min_length=3,
        max_length=100,
        pattern=r"^[A-Za-z0-9._@-]+$",
        description="letters, digits and . _ @ - (case-insensitive)",
    ),
]
# Login accepts any string (a malformed username is just a failed login, not a 400 hint).
LoginName = Annotated[str, Meta(max_length=100)]
Password = Annotated[str, Meta(max_length=1024)]  # bounded: argon2 cost must not be attackable
NewPassword = Annotated[
    str, Meta(max_length=1024, description=f"at least {MIN_PASSWORD_LENGTH} characters")
]
RoleName = Literal["platform_admin", "brand_admin", "brand_viewer"]


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    username: LoginName
    password: Password


class AdminTokenOut(msgspec.Struct, kw_only=True):
    access_token: str
    token_type: str
    expires_in: int


class PrincipalOut(msgspec.Struct, kw_only=True):
    user_id: uuid.UUID
    username: str
    role: str
    brand_id: uuid.UUID | None

    @classmethod
    def of(cls, principal: Principal) -> PrincipalOut:
        return cls(
            user_id=principal.subject,
            username=principal.username,
            role=principal.role,
            brand_id=principal.brand_id,
        )


class UserCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    username: Username
    password: NewPassword
    role: RoleName
    brand_id: uuid.UUID | None = None  # brand admins may omit it: their own brand


class UserOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    username: str
    role: str
    brand_id: uuid.UUID | None
    created_at: datetime
    last_login_at: datetime | None
    disabled_at: datetime | None

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            username=user.username,
            role=user.role,
            brand_id=user.brand_id,
            created_at=user.created_at,
            last_login_at=user.last_login_at,
            disabled_at=user.disabled_at,
        )


class UserPage(Page[UserOut], kw_only=True):
    """One page of user entries."""

    items: list[UserOut]


class AuditEntryOut(msgspec.Struct, kw_only=True):
    id: int
    at: datetime
    actor_id: uuid.UUID | None
    actor_name: str
    brand_id: uuid.UUID | None
    action: str
    target_type: str
    target_id: str
    details: dict[str, Any]

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryOut:
        return cls(
            id=entry.id,
            at=entry.at,
            actor_id=entry.actor_id,
            actor_name=entry.actor_name,
            brand_id=entry.brand_id,
            action=entry.action,
            target_type=entry.target_type,
            target_id=entry.target_id,
            details=entry.details or {},
        )


class AuditEntryPage(Page[AuditEntryOut], kw_only=True):
    """One page of audit entry entries."""

    items: list[AuditEntryOut]
