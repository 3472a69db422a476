"""Account administration for the admin API (listing, disabling) and the audit-trail query.

Accounts themselves (creation, lookup, password checks) are ``kernel.accounts``.

Platform admins manage every account; a brand admin manages the accounts of its own brand
and may only grant ``brand_admin`` or ``brand_viewer``. ``scope`` arguments are the caller's
brand (``None`` = platform-wide); a user outside the scope is "not found".
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kernel.accounts import User, get_user
from kernel.audit import AuditEntry, record_audit
from kernel.auth import Principal, Role
from kernel.db import utcnow
from kernel.errors import AuthenticationFailed, Conflict, NotFound
from kernel.pagination import fetch_page

__all__ = ["active_user_guard", "disable_user", "list_audit", "list_users"]


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
