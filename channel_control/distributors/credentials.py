"""Distributor identities: staff accounts bound to one distributor, and machine API keys.

Both authenticate as a ``DistributorPrincipal`` (brand, distributor): a user through a
distributor-purpose JWT (audience ``scanguard:distributor``, so it is useless on the admin
API), a warehouse scanner or ERP through ``X-Api-Key: sgk_<key id>_<secret>``. Every
distributor-facing query filters on that pair; another distributor's object is a 404.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from channel_control.distributors.models import Distributor, DistributorApiKey, DistributorUser
from channel_control.distributors.services import get_distributor
from kernel import accounts
from kernel.accounts import User
from kernel.audit import record_audit
from kernel.auth import Principal, Role, TokenPurpose, decode_token, encode_token
from kernel.db import utcnow
from kernel.errors import AuthenticationFailed, InvalidInput, NotFound
from kernel.login_limits import LoginAttempt, LoginLimiter, limited_login
from kernel.settings import Settings

__all__ = [
    "API_KEY_PREFIX",
    "CreatedApiKey",
    "DistributorPrincipal",
    "IssuedDistributorToken",
    "authenticate_api_key",
    "authenticate_token",
    "create_api_key",
    "create_distributor_user",
    "distributor_users",
    "list_api_keys",
    "login",
    "revoke_api_key",
]

API_KEY_PREFIX = "sgk"
# last_used_at is a hint for admins ("is this scanner still alive?"), not an audit trail:
# writing it at most once a minute keeps a busy scanner from turning reads into writes.
LAST_USED_GRANULARITY = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class DistributorPrincipal:
    """Who is calling the distributor API."""

    brand_id: uuid.UUID
    distributor_id: uuid.UUID
    subject: uuid.UUID  # the user id or the API key id
    name: str  # username or key name
    via: Literal["user", "api_key"]


@dataclass(frozen=True, slots=True)
class CreatedApiKey:
    key: DistributorApiKey
    secret: str  # shown once, never stored


@dataclass(frozen=True, slots=True)
class IssuedDistributorToken:
    access_token: str
    expires_in: int
    principal: DistributorPrincipal


def _unauthenticated(code: str = "invalid_credentials") -> AuthenticationFailed:
    return AuthenticationFailed("invalid distributor credentials", code=code)


def _digest(secret: str) -> str:
    # A plain SHA-256 is enough here (unlike passwords): the secret has 256 bits of entropy
    # from ``secrets``, so there is no dictionary to try and no need for a slow, salted hash;
    # a fast hash also keeps authentication cheap on every scanner request.
    return hashlib.sha256(secret.encode()).hexdigest()


async def _active_distributor(
    session: AsyncSession, brand_id: uuid.UUID, distributor_id: uuid.UUID
) -> Distributor | None:
    try:
        distributor = await get_distributor(session, brand_id, distributor_id)
    except NotFound:
        return None
    return distributor if distributor.deactivated_at is None else None


# ---------------------------------------------------------------------------------------------
# Staff accounts
# ---------------------------------------------------------------------------------------------
async def create_distributor_user(
    session: AsyncSession,
    actor: Principal | None,
    brand_id: uuid.UUID,
    distributor_id: uuid.UUID,
    *,
    username: str,
    password: str,
) -> tuple[User, DistributorUser]:
    """Create a ``distributor`` account of the brand bound to ``distributor_id``."""
    distributor = await get_distributor(session, brand_id, distributor_id)
    user = await accounts.create_user(
        session,
        actor,
        username=username,
        password=password,
        role=Role.DISTRIBUTOR,
        brand_id=brand_id,
        allow_distributor=True,
    )
    link = DistributorUser(user_id=user.id, distributor_id=distributor.id, created_at=utcnow())
    session.add(link)
    await session.flush()
    record_audit(
        session,
        actor,
        "distributor.user.create",
        target_type="distributor",
        target_id=distributor.id,
        brand_id=brand_id,
        details={"user_id": str(user.id), "username": user.username},
    )
    return user, link


async def distributor_users(
    session: AsyncSession, brand_id: uuid.UUID, distributor_id: uuid.UUID
) -> list[tuple[User, DistributorUser]]:
    """The accounts bound to the brand's distributor, oldest first."""
    await get_distributor(session, brand_id, distributor_id)
    links = (
        (
            await session.execute(
                select(DistributorUser)
                .where(DistributorUser.distributor_id == distributor_id)
                .order_by(DistributorUser.created_at, DistributorUser.user_id)
            )
        )
        .scalars()
        .all()
    )
    return [(await accounts.get_user(session, brand_id, link.user_id), link) for link in links]


async def login(
    session: AsyncSession,
    settings: Settings,
    username: str,
    password: str,
    *,
    limiter: LoginLimiter,
    attempt: LoginAttempt,
) -> IssuedDistributorToken:
    """Check a distributor account's password; return a distributor-purpose access token.

    Wrong password, unknown user, another role, a disabled account and a deactivated
    distributor all get the same ``invalid_credentials`` answer, and count as failures
    under the login limits (429 ``login_locked``, ``kernel.login_limits``).
    """
    return await limited_login(
        limiter, attempt, lambda: _login(session, settings, username, password)
    )


async def _login(
    session: AsyncSession, settings: Settings, username: str, password: str
) -> IssuedDistributorToken:
    try:
        user = await accounts.authenticate(
            session, username, password, roles=frozenset({Role.DISTRIBUTOR})
        )
    except AuthenticationFailed as exc:
        raise _unauthenticated() from exc
    if user.brand_id is None:
        raise _unauthenticated()
    link = await session.get(DistributorUser, user.id)
    if (
        link is None
        or await _active_distributor(session, user.brand_id, link.distributor_id) is None
    ):
        raise _unauthenticated()
    principal = DistributorPrincipal(
        brand_id=user.brand_id,
        distributor_id=link.distributor_id,
        subject=user.id,
        name=user.username,
        via="user",
    )
    token = encode_token(
        settings.auth.jwt_secret,
        subject=str(user.id),
        purpose=TokenPurpose.DISTRIBUTOR,
        ttl_s=settings.auth.jwt_access_ttl_s,
        claims={
            "role": Role.DISTRIBUTOR.value,
            "brand": str(user.brand_id),
            "distributor": str(link.distributor_id),
            "username": user.username,
        },
    )
    return IssuedDistributorToken(
        access_token=token, expires_in=settings.auth.jwt_access_ttl_s, principal=principal
    )


async def authenticate_token(
    session: AsyncSession, settings: Settings, token: str
) -> DistributorPrincipal:
    """The principal of a distributor JWT, re-checked against the database.

    The account must still be enabled and bound to the same, still active, distributor:
    unbinding or deactivating takes effect at once, not at token expiry.
    """
    claims = decode_token(settings.auth.jwt_secret, token, purpose=TokenPurpose.DISTRIBUTOR)
    try:
        user_id = uuid.UUID(str(claims["sub"]))
        brand_id = uuid.UUID(str(claims["brand"]))
        distributor_id = uuid.UUID(str(claims["distributor"]))
    except (KeyError, ValueError) as exc:
        raise AuthenticationFailed("token lacks required claims", code="invalid_token") from exc
    link = await session.get(DistributorUser, user_id)
    if link is None or link.distributor_id != distributor_id:
        raise _unauthenticated("invalid_token")
    try:
        user = await accounts.get_user(session, brand_id, user_id)
    except NotFound as exc:
        raise _unauthenticated("invalid_token") from exc
    if user.disabled_at is not None or user.role != Role.DISTRIBUTOR:
        raise _unauthenticated("invalid_token")
    if await _active_distributor(session, brand_id, distributor_id) is None:
        raise _unauthenticated("invalid_token")
    return DistributorPrincipal(
        brand_id=brand_id,
        distributor_id=distributor_id,
        subject=user_id,
        name=user.username,
        via="user",
    )


# ---------------------------------------------------------------------------------------------
# Machine credentials
# ---------------------------------------------------------------------------------------------
async def create_api_key(
    session: AsyncSession,
    actor: Principal | None,
    brand_id: uuid.UUID,
    distributor_id: uuid.UUID,
    *,
    name: str,
) -> CreatedApiKey:
    """A new API key for the distributor; the secret is returned here and never again."""
    distributor = await get_distributor(session, brand_id, distributor_id)
    if distributor.deactivated_at is not None:
        raise InvalidInput(
            "the distributor is deactivated", code="distributor_inactive", field="distributor_id"
        )
    key_id = uuid.uuid4()
    secret = f"{API_KEY_PREFIX}_{key_id.hex}_{secrets.token_urlsafe(32)}"
    key = DistributorApiKey(
        id=key_id,
        brand_id=brand_id,
        distributor_id=distributor.id,
        name=name.strip(),
        secret_sha256=_digest(secret),
        created_at=utcnow(),
        created_by=actor.subject if actor else None,
    )
    session.add(key)
    await session.flush()
    record_audit(
        session,
        actor,
        "distributor.api_key.create",
        target_type="distributor_api_key",
        target_id=key.id,
        brand_id=brand_id,
        details={"distributor_id": str(distributor.id), "name": key.name},
    )
    return CreatedApiKey(key=key, secret=secret)


async def list_api_keys(
    session: AsyncSession, brand_id: uuid.UUID, distributor_id: uuid.UUID
) -> list[DistributorApiKey]:
    """The distributor's keys (revoked ones included), oldest first."""
    await get_distributor(session, brand_id, distributor_id)
    rows = await session.execute(
        select(DistributorApiKey)
        .where(
            DistributorApiKey.brand_id == brand_id,
            DistributorApiKey.distributor_id == distributor_id,
        )
        .order_by(DistributorApiKey.created_at, DistributorApiKey.id)
    )
    return list(rows.scalars().all())


async def revoke_api_key(
    session: AsyncSession,
    actor: Principal | None,
    brand_id: uuid.UUID,
    distributor_id: uuid.UUID,
    key_id: uuid.UUID,
) -> DistributorApiKey:
    """Revoke a key (idempotent); it stops working at once."""
    key = (
        await session.execute(
            select(DistributorApiKey).where(
                DistributorApiKey.id == key_id,
                DistributorApiKey.brand_id == brand_id,
                DistributorApiKey.distributor_id == distributor_id,
            )
        )
    ).scalar_one_or_none()
    if key is None:
        raise NotFound("API key not found", code="api_key_not_found")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await session.flush()
        record_audit(
            session,
            actor,
            "distributor.api_key.revoke",
            target_type="distributor_api_key",
            target_id=key.id,
            brand_id=brand_id,
            details={"distributor_id": str(distributor_id), "name": key.name},
        )
    return key


async def authenticate_api_key(session: AsyncSession, presented: str) -> DistributorPrincipal:
    """The principal of an ``sgk_<id>_<secret>`` key; 401 for unknown, wrong or revoked keys."""
    prefix, _, rest = presented.strip().partition("_")
    key_hex, _, tail = rest.partition("_")
    if prefix != API_KEY_PREFIX or not tail:
        raise _unauthenticated("invalid_api_key")
    try:
        key_id = uuid.UUID(hex=key_hex)
    except ValueError as exc:
        raise _unauthenticated("invalid_api_key") from exc
    key = await session.get(DistributorApiKey, key_id)
    expected = key.secret_sha256 if key is not None else _digest("")
    # Constant-time comparison of digests, also when the key id does not exist.
    matches = hmac.compare_digest(expected, _digest(presented.strip()))
    if key is None or not matches or key.revoked_at is not None:
        raise _unauthenticated("invalid_api_key")
    if await _active_distributor(session, key.brand_id, key.distributor_id) is None:
        raise _unauthenticated("invalid_api_key")
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_GRANULARITY:
        key.last_used_at = now
        await session.flush()
    return DistributorPrincipal(
        brand_id=key.brand_id,
        distributor_id=key.distributor_id,
        subject=key.id,
        name=key.name,
        via="api_key",
    )
