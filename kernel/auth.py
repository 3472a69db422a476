"""Auth primitives: slow password hashes, purpose-typed short-lived JWTs, the principal.

Tokens are HS256 only (the algorithm is pinned on decode, never read from the token), carry
an audience per purpose (admin / distributor / consumer) so a consumer token can never be
replayed against the admin API, and always expire.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from kernel.db import utcnow
from kernel.errors import AuthenticationFailed, Forbidden

__all__ = [
    "JWT_ALGORITHM",
    "Principal",
    "Role",
    "TokenPurpose",
    "decode_token",
    "encode_token",
    "hash_password",
    "password_needs_rehash",
    "verify_password",
]

JWT_ALGORITHM = "HS256"
ISSUER = "scanguard"

# argon2id, RFC 9106 "second recommended" profile: 64 MiB, 3 passes.
_hasher = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=2)
# A hash verified when the user does not exist, so timing does not reveal usernames.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


class Role(enum.StrEnum):
    PLATFORM_ADMIN = "platform_admin"
    BRAND_ADMIN = "brand_admin"
    BRAND_VIEWER = "brand_viewer"
    DISTRIBUTOR = "distributor"  # a distributor's staff: only the distributor API


class TokenPurpose(enum.StrEnum):
    ADMIN = "admin"
    DISTRIBUTOR = "distributor"
    CONSUMER = "consumer"

    @property
    def audience(self) -> str:
        return f"scanguard:{self.value}"


def hash_password(password: str) -> str:
    """argon2id hash (slow on purpose: call it off the event loop)."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant-work check; ``None`` (unknown user) still spends the time of a real check."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, from a verified token. ``brand_id`` is None only for platform admins."""

    subject: uuid.UUID
    username: str
    role: str
    brand_id: uuid.UUID | None
    purpose: TokenPurpose = TokenPurpose.ADMIN

    @property
    def is_platform_admin(self) -> bool:
        return self.role == Role.PLATFORM_ADMIN

    def require_role(self, *roles: str) -> None:
        """Raise Forbidden unless the principal has one of ``roles`` (platform admin always may)."""
        if self.is_platform_admin or self.role in roles:
            return
        raise Forbidden(f"role {self.role!r} may not do this", code="insufficient_role")


def encode_token(
    secret: bytes,
    *,
    subject: str,
    purpose: TokenPurpose,
    ttl_s: int,
    claims: dict[str, Any] | None = None,
) -> str:
    now = utcnow()
    payload: dict[str, Any] = {
        "iss": ISSUER,
        "aud": purpose.audience,
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(seconds=ttl_s),
        "jti": uuid.uuid4().hex,
    }
    payload.update(claims or {})
    return jwt.encode(payload, secret, algorithm=JWT_ALGORITHM)


def decode_token(secret: bytes, token: str, *, purpose: TokenPurpose) -> dict[str, Any]:
    """Verify signature, expiry, issuer and audience; raise AuthenticationFailed otherwise."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=[JWT_ALGORITHM],
            audience=purpose.audience,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            leeway=5,
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthenticationFailed("token expired", code="token_expired") from exc
    except jwt.InvalidTokenError as exc:
        raise AuthenticationFailed(f"invalid token: {exc}", code="invalid_token") from exc
    return claims
