"""Admin login: check a username and password, issue a short-lived admin JWT.

Unknown user, wrong password and disabled user get the same answer after the same amount of
work (an argon2 verification always runs), so the endpoint reveals nothing about accounts.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from admin_api.models import User
from kernel.auth import (
    Role,
    TokenPurpose,
    encode_token,
    hash_password,
    password_needs_rehash,
    verify_password,
)
from kernel.db import utcnow
from kernel.errors import AuthenticationFailed
from kernel.settings import Settings

__all__ = ["ADMIN_ROLES", "IssuedToken", "authenticate", "login"]


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int
    user: User


def _invalid() -> AuthenticationFailed:
    return AuthenticationFailed("invalid username or password", code="invalid_credentials")


ADMIN_ROLES: frozenset[str] = frozenset({Role.PLATFORM_ADMIN, Role.BRAND_ADMIN, Role.BRAND_VIEWER})


async def login(
    session: AsyncSession, settings: Settings, username: str, password: str
) -> IssuedToken:
    """Verify the credentials and return an admin access token; ``invalid_credentials`` else."""
    user = await authenticate(session, username, password, roles=ADMIN_ROLES)
    token = encode_token(
        settings.jwt_secret,
        subject=str(user.id),
        purpose=TokenPurpose.ADMIN,
        ttl_s=settings.jwt_access_ttl_s,
        claims={
            "role": user.role,
            "brand": str(user.brand_id) if user.brand_id else None,
            "username": user.username,
        },
    )
    return IssuedToken(access_token=token, expires_in=settings.jwt_access_ttl_s, user=user)


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
        raise _invalid()
    user.last_login_at = utcnow()
    if password_needs_rehash(user.password_hash):
        user.password_hash = await asyncio.to_thread(hash_password, password)
    await session.flush()
    return user
