"""User service (admin API accounts) and the audit-trail query.

Platform admins manage every account; a brand admin manages the accounts of its own brand
and may only grant ``brand_admin`` or ``brand_viewer``. ``scope`` arguments are the caller's
brand (``None`` = platform-wide); a user outside the scope is "not found".
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from admin_api.models import User
from admin_api.schemas import MIN_PASSWORD_LENGTH
from anticounterfeit.catalogue import get_brand
from kernel.audit import AuditEntry, record_audit
from kernel.auth import Principal, Role, hash_password
from kernel.db import fetch_page, utcnow
from kernel.errors import AuthenticationFailed, Conflict, Forbidden, InvalidInput, NotFound

__all__ = [
    "active_user_guard",
    "check_password_policy",
    "create_user",
    "disable_user",
    "get_user",
    "list_audit",
    "list_users",
]

BRAND_ROLES = frozenset({Role.BRAND_ADMIN.value, Role.BRAND_VIEWER.value})


def check_password_policy(password: str) -> None:
    """At least ``MIN_PASSWORD_LENGTH`` characters (length beats composition rules)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"password must have at least {MIN_PASSWORD_LENGTH} characters",
            code="weak_password",
            field="password",
        )


def _username_taken(username: str) -> Conflict:
    return Conflict(f"username {username!r} is taken", code="username_taken", field="username")


async def create_user(
    session: AsyncSession,
    actor: Principal | None,
    *,
    username: str,
    password: str,
    role: str,
    brand_id: uuid.UUID | None,
    allow_distributor: bool = False,
) -> User:
    """Create an account. ``actor=None`` is the operator's CLI (any role allowed).

    Brand admins create users of their own brand only (``brand_id`` omitted or their own),
    with role ``brand_admin`` or ``brand_viewer``. A ``distributor`` account is only made by
    channel_control (``allow_distributor``), which links it to its distributor in the same
    unit of work: without that link it could do nothing.
    """
    if role not in {r.value for r in Role}:
        raise InvalidInput(f"unknown role {role!r}", code="invalid_role", field="role")
    if role == Role.DISTRIBUTOR and not allow_distributor:
        raise InvalidInput(
            "distributor accounts are created under their distributor",
            code="role_not_allowed",
            field="role",
        )
    if actor is not None and not actor.is_platform_admin:
        actor.require_role(Role.BRAND_ADMIN)
        if role not in BRAND_ROLES and role != Role.DISTRIBUTOR:
            raise Forbidden(
                "brand admins may grant brand_admin or brand_viewer only",
                code="role_not_allowed",
                field="role",
            )
        if brand_id is not None and brand_id != actor.brand_id:
            raise NotFound("brand not found", code="brand_not_found", field="brand_id")
        brand_id = actor.brand_id
    if role == Role.PLATFORM_ADMIN and brand_id is not None:
        raise InvalidInput(
            "platform admins belong to no brand", code="brand_not_allowed", field="brand_id"
        )
    if role != Role.PLATFORM_ADMIN:
        if brand_id is None:
            raise InvalidInput(
                f"a {role} belongs to a brand: give brand_id",
                code="brand_required",
                field="brand_id",
            )
        try:
            await get_brand(session, brand_id)
        except NotFound as exc:
            raise NotFound("brand not found", code="brand_not_found", field="brand_id") from exc
    check_password_policy(password)
    name = username.strip().lower()
    taken = await session.execute(select(User.id).where(User.username == name))
    if taken.first() is not None:
        raise _username_taken(name)
    user = User(
        id=uuid.uuid4(),
        username=name,
        password_hash=await asyncio.to_thread(hash_password, password),
        role=role,
        brand_id=brand_id,
        created_at=utcnow(),
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent create of the same name
        raise _username_taken(name) from exc
    record_audit(
        session,
        actor,
        "user.create",
        target_type="user",
        target_id=user.id,
        brand_id=brand_id,
        details={"username": name, "role": role},
    )
    return user


async def get_user(session: AsyncSession, scope: uuid.UUID | None, user_id: uuid.UUID) -> User:
    """The user ``user_id`` if inside ``scope`` (a brand, or ``None`` for platform-wide)."""
    query = select(User).where(User.id == user_id)
    if scope is not None:
        query = query.where(User.brand_id == scope)
    user = (await session.execute(query)).scalar_one_or_none()
    if user is None:
        raise NotFound("user not found", code="user_not_found")
    return user


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
