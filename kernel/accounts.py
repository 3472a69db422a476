"""Accounts: the people who log in (brand staff, platform operators, distributor staff).

An auth primitive shared by the admin API and channel control (whose distributor staff are
accounts too), so it lives in the kernel rather than in either of them: neither needs to
import the other. Roles and tokens are in ``kernel.auth``; the admin API adds listing,
disabling and its routes, channel control links distributor staff to their distributor.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from kernel.audit import record_audit
from kernel.auth import Principal, Role, hash_password, password_needs_rehash, verify_password
from kernel.db import Base, UUIDPrimaryKey, utcnow
from kernel.errors import AuthenticationFailed, Conflict, Forbidden, InvalidInput, NotFound

__all__ = [
    "BRAND_ROLES",
    "MIN_PASSWORD_LENGTH",
    "User",
    "authenticate",
    "check_password_policy",
    "create_user",
    "get_user",
]

MIN_PASSWORD_LENGTH = 12
BRAND_ROLES = frozenset({Role.BRAND_ADMIN.value, Role.BRAND_VIEWER.value})


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
    if role != Role.PLATFORM_ADMIN and brand_id is None:
        raise InvalidInput(
            f"a {role} belongs to a brand: give brand_id", code="brand_required", field="brand_id"
        )
    check_password_policy(password)
    name = username.strip().lower()
    if await _username_exists(session, name):
        raise _username_taken(name)
    user = User(
        id=uuid.uuid4(),
        username=name,
        password_hash=await asyncio.to_thread(hash_password, password),
        role=role,
        brand_id=brand_id,
        created_at=utcnow(),
    )
    try:
        # A savepoint: a refused insert leaves the caller's unit of work usable.
        async with session.begin_nested():
            session.add(user)
    except IntegrityError as exc:
        # Either a concurrent create took the name, or the brand does not exist (the
        # foreign key says so; the kernel does not read the catalogue's tables itself).
        if await _username_exists(session, name):
            raise _username_taken(name) from exc
        raise NotFound("brand not found", code="brand_not_found", field="brand_id") from exc
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


async def _username_exists(session: AsyncSession, name: str) -> bool:
    found = await session.execute(select(User.id).where(User.username == name))
    return found.first() is not None


async def get_user(session: AsyncSession, scope: uuid.UUID | None, user_id: uuid.UUID) -> User:
    """The user ``user_id`` if inside ``scope`` (a brand, or ``None`` for platform-wide)."""
    query = select(User).where(User.id == user_id)
    if scope is not None:
        query = query.where(User.brand_id == scope)
    user = (await session.execute(query)).scalar_one_or_none()
    if user is None:
        raise NotFound("user not found", code="user_not_found")
    return user


async def authenticate(
    session: AsyncSession, username: str, password: str, *, roles: frozenset[str]
) -> User:
    """The enabled user with this password and one of ``roles``; ``invalid_credentials`` else.

    Unknown user, wrong password, disabled account and another role get the same answer
    (argon2 runs in every case). Records ``last_login_at`` and upgrades an outdated hash.
    """
    user = (
        await session.execute(select(User).where(User.username == username.strip().lower()))
    ).scalar_one_or_none()
    # argon2 is deliberately slow: keep it off the event loop.
    ok = await asyncio.to_thread(verify_password, user.password_hash if user else None, password)
    # Each API logs in its own roles only: a distributor account is unknown to the admin API.
    if not ok or user is None or user.disabled_at is not None or user.role not in roles:
        raise AuthenticationFailed("invalid username or password", code="invalid_credentials")
    user.last_login_at = utcnow()
    if password_needs_rehash(user.password_hash):
        user.password_hash = await asyncio.to_thread(hash_password, password)
    await session.flush()
    return user
