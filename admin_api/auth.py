"""Admin login: check a username and password, issue a short-lived admin JWT.

Unknown user, wrong password and disabled user get the same answer after the same amount of
work (an argon2 verification always runs), so the endpoint reveals nothing about accounts.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.accounts import User, authenticate
from kernel.auth import (
    Role,
    TokenPurpose,
    encode_token,
)
from kernel.errors import AuthenticationFailed
from kernel.settings import Settings

__all__ = ["ADMIN_ROLES", "IssuedToken", "login"]


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
