"""Accounts of the admin API: login (a short-lived admin JWT), account administration
(listing, disabling) and the audit-trail query.

Accounts themselves (creation, lookup, password checks) are ``kernel.accounts``.

Login: unknown user, wrong password and disabled user get the same answer after the same
amount of work (an argon2 verification always runs), so the endpoint reveals nothing about
accounts.

Platform admins manage every account; a brand admin manages the accounts of its own brand
and may only grant ``brand_admin`` or ``brand_viewer``. ``scope`` arguments are the caller's
brand (``None`` = platform-wide); a user outside the scope is "not found".
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kernel.accounts import User, authenticate, get_user
from kernel.audit import AuditEntry, record_audit
from kernel.auth import (
    Principal,
    Role,
    TokenPurpose,
    encode_token,
)
from kernel.db import utcnow
from kernel.errors import AuthenticationFailed, Conflict, NotFound
from kernel.login_limits import LoginAttempt, LoginLimiter, limited_login
from kernel.pagination import fetch_page
from kernel.settings import Settings

__all__ = [
    "ADMIN_ROLES",
    "IssuedToken",
    "active_user_guard",
    "disable_user",
    "list_audit",
    "list_users",
    "login",
]


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int
    user: User


def _invalid() -> AuthenticationFailed:
    return AuthenticationFailed("invalid username or password", code="invalid_credentials")


ADMIN_ROLES: frozenset[str] = frozenset({Role.PLATFORM_ADMIN, Role.BRAND_ADMIN, Role.BRAND_VIEWER})


async def login(
    session: AsyncSession,
    settings: Settings,
    username: str,
    password: str,
    *,
    limiter: LoginLimiter,
    attempt: LoginAttempt,
) -> IssuedToken:
    """Verify the credentials and return an admin access token; ``invalid_credentials`` else,
    429 ``login_locked`` past the login limits (``kernel.login_limits``)."""
    user = await limited_login(
        limiter, attempt, lambda: authenticate(session, username, password, roles=ADMIN_ROLES)
    )
    token = encode_token(
        settings.auth.jwt_secret,
        subject=str(user.id),
        purpose=TokenPurpose.ADMIN,
        ttl_s=settings.auth.jwt_access_ttl_s,
        claims={
            "role": user.role,
            "brand": str(user.brand_id) if user.brand_id else None,
            "username": user.username,
        },
    )
    return IssuedToken(access_token=token, expires_in=settings.auth.jwt_access_ttl_s, user=user)


async def list_users(
    session: AsyncSession,
    scope: uuid.UUID | None,
    *,
    role: str | None = None,
    limit: int,
    offset: int,
) -> tuple[list[User], int]:
    query = select(User).order_by(User.created_at, User.id)
    if scope is not None:
        query = query.where(User.brand_id == scope)
    if role is not None:
        query = query.where(User.role == role)
    result: tuple[list[User], int] = await fetch_page(session, query, limit=limit, offset=offset)
    return result


async def disable_user(
    session: AsyncSession, actor: Principal, scope: uuid.UUID | None, user_id: uuid.UUID
) -> User:
    """Disable an account (idempotent). Its tokens stop being issued at once; tokens already
    issued stay valid until they expire (``jwt_access_ttl_s``)."""
    actor.require_role(Role.BRAND_ADMIN)
    user = await get_user(session, scope, user_id)
    if user.id == actor.subject:
        raise Conflict("you cannot disable your own account", code="cannot_disable_self")
    if not actor.is_platform_admin and user.role == Role.PLATFORM_ADMIN:
        raise NotFound("user not found", code="user_not_found")  # pragma: no cover - scoped
    if user.disabled_at is None:
        user.disabled_at = utcnow()
        await session.flush()
        record_audit(
            session,
            actor,
            "user.disable",
            target_type="user",
            target_id=user.id,
            brand_id=user.brand_id,
            details={"username": user.username},
        )
    return user


async def list_audit(
    session: AsyncSession,
    scope: uuid.UUID | None,
    *,
    action: str | None = None,
    target_type: str | None = None,
    limit: int,
    offset: int,
) -> tuple[list[AuditEntry], int]:
    """Audit entries, newest first, of one brand (``scope``) or of the whole platform."""
    query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    if scope is not None:
        query = query.where(AuditEntry.brand_id == scope)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    if target_type is not None:
        query = query.where(AuditEntry.target_type == target_type)
    result: tuple[list[AuditEntry], int] = await fetch_page(
        session, query, limit=limit, offset=offset
    )
    return result


def active_user_guard(
    session_factory: async_sessionmaker[AsyncSession],
) -> Callable[[Principal], Awaitable[None]]:
    """A principal guard refusing tokens of users disabled (or deleted) since they logged in.

    One primary-key lookup per admin request: tokens live 15 minutes, a disabled account
    must stop at once.
    """

    async def guard(principal: Principal) -> None:
        async with session_factory() as session:
            row = (
                await session.execute(select(User.disabled_at).where(User.id == principal.subject))
            ).one_or_none()
        if row is None or row[0] is not None:
            raise AuthenticationFailed("this account is disabled", code="account_disabled")

    return guard
