"""Who is calling an admin route, and whether their role may: the principal and role guards.

``provide_principal`` verifies the admin token (and asks the composition root's
``principal_guard`` whether the account is still active); the guards below are Litestar
guards that run before the request body is read, so a caller without the role never reaches
validation or the handler. Platform admins pass every role guard.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from kernel.auth import Principal, Role, TokenPurpose, decode_token
from kernel.errors import AuthenticationFailed

__all__ = [
    "ADMIN_TOKEN_ROLES",
    "BRAND_READ",
    "BRAND_WRITE",
    "PLATFORM_ONLY",
    "Guard",
    "PrincipalGuard",
    "allow_roles",
    "principal_of",
    "provide_principal",
]

ADMIN_TOKEN_ROLES = frozenset({Role.PLATFORM_ADMIN, Role.BRAND_ADMIN, Role.BRAND_VIEWER})
_SCOPE_KEY = "scanguard.principal"

PrincipalGuard = Callable[[Principal], Awaitable[None]]
Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]


async def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The verified admin principal of this request (decoded and checked once per request).

    After the token checks out, ``app.state.principal_guard`` (set by the composition root)
    may still refuse it, e.g. because the account was disabled after the token was issued.
    """
    cached = connection.scope.get(_SCOPE_KEY)
    if isinstance(cached, Principal):
        return cached
    principal = _principal_from_token(connection)
    check: PrincipalGuard | None = getattr(connection.app.state, "principal_guard", None)
    if check is not None:
        await check(principal)
    connection.scope[_SCOPE_KEY] = principal  # type: ignore[literal-required]  # our own scope key
    return principal


async def provide_principal(request: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """Dependency ``principal``: the verified admin principal from ``Authorization: Bearer``."""
    return await principal_of(request)


def allow_roles(*roles: str) -> Guard:
    """A guard admitting admins whose role is one of ``roles`` (platform admins always)."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        (await principal_of(connection)).require_role(*roles)

    guard.__name__ = f"allow_{'_'.join(roles) or 'platform'}"
    return guard


PLATFORM_ONLY = allow_roles()
BRAND_WRITE = allow_roles(Role.BRAND_ADMIN)
BRAND_READ = allow_roles(Role.BRAND_ADMIN, Role.BRAND_VIEWER)


def _principal_from_token(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationFailed("missing bearer token", code="missing_token")
    secret: bytes = connection.app.state.settings.auth.jwt_secret
    claims = decode_token(secret, token.strip(), purpose=TokenPurpose.ADMIN)
    if claims.get("role") not in ADMIN_TOKEN_ROLES:
        raise AuthenticationFailed("not an admin token", code="invalid_token")
    try:
        brand = claims.get("brand")
        return Principal(
            subject=uuid.UUID(str(claims["sub"])),
            username=str(claims.get("username", "")),
            role=str(claims["role"]),
            brand_id=uuid.UUID(str(brand)) if brand else None,
        )
    except (KeyError, ValueError) as exc:
        raise AuthenticationFailed("token lacks required claims", code="invalid_token") from exc
