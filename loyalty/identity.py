"""Consumer identity: WeChat logins, anonymous browsers, binding one to the other.

- A WeChat consumer is found by openid (``code2session``) and gets a short-lived consumer JWT
  (audience ``scanguard:consumer``).
- A browser gets an anonymous consumer tied to its ``sgd`` device cookie (keyed hash) and a
  signed ``sgc`` cookie naming that consumer.
- Binding an anonymous consumer to a WeChat identity either upgrades it in place (the openid
  is new) or merges it into the existing WeChat consumer: its open lots move with their
  expiry dates, its pending points move, its claims, draws, redemptions and payouts follow.
  The merge happens exactly once: it starts with a conditional ``UPDATE`` that only one
  transaction can win (``merged_into IS NULL``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import TokenPurpose, decode_token, encode_token
from kernel.errors import AuthenticationFailed, Conflict
from loyalty.ledger import (
    PENDING,
    account_entries,
    ensure_account,
    insert_ignore,
    lock_account,
    open_lots,
    post,
)
from loyalty.models import Account, Claim, Consumer, Draw, Payout, Redemption

__all__ = [
    "CONSUMER_COOKIE",
    "ConsumerToken",
    "bind_wechat",
    "consumer_by_device",
    "consumer_by_openid",
    "cookie_value",
    "issue_token",
    "merge_consumers",
    "parse_cookie",
    "resolve_consumer",
    "subject_of_token",
]

CONSUMER_COOKIE = "sgc"
_COOKIE_LABEL = b"scanguard/consumer-cookie"


@dataclass(frozen=True, slots=True)
class ConsumerToken:
    access_token: str
    expires_in: int
    consumer_id: uuid.UUID


def issue_token(secret: bytes, consumer: Consumer, ttl_s: int) -> ConsumerToken:
    token = encode_token(
        secret,
        subject=str(consumer.id),
        purpose=TokenPurpose.CONSUMER,
        ttl_s=ttl_s,
        claims={"kind": "wechat" if consumer.openid else "device"},
    )
    return ConsumerToken(token, ttl_s, consumer.id)


def subject_of_token(secret: bytes, token: str) -> uuid.UUID:
    claims = decode_token(secret, token, purpose=TokenPurpose.CONSUMER)
    try:
        return uuid.UUID(str(claims["sub"]))
    except (KeyError, ValueError) as exc:
        raise AuthenticationFailed("token lacks a consumer", code="invalid_token") from exc


def _cookie_mac(secret: bytes, consumer_id: uuid.UUID) -> str:
    key = hmac.new(secret, _COOKIE_LABEL, hashlib.sha256).digest()
    mac = hmac.new(key, consumer_id.bytes, hashlib.sha256).digest()[:18]
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def cookie_value(secret: bytes, consumer_id: uuid.UUID) -> str:
    """The signed ``sgc`` cookie: ``<consumer id>.<mac>``."""
    return f"{consumer_id.hex}.{_cookie_mac(secret, consumer_id)}"


def parse_cookie(secret: bytes, value: str) -> uuid.UUID | None:
    """The consumer a ``sgc`` cookie names, or None when it is malformed or forged."""
    raw_id, _, mac = value.partition(".")
    try:
        consumer_id = uuid.UUID(hex=raw_id)
    except ValueError:
        return None
    return consumer_id if hmac.compare_digest(mac, _cookie_mac(secret, consumer_id)) else None


async def resolve_consumer(session: AsyncSession, consumer_id: uuid.UUID) -> Consumer:
    """The consumer now holding ``consumer_id``'s points (follows merges)."""
    for _ in range(8):  # merges always point at a final consumer; a chain is a bug
        consumer = await session.get(Consumer, consumer_id)
        if consumer is None:
            raise AuthenticationFailed("unknown consumer", code="invalid_token")
        if consumer.merged_into is None:
            return consumer
        consumer_id = consumer.merged_into
    raise AuthenticationFailed("consumer merge chain too long", code="invalid_token")


async def _get_or_create(session: AsyncSession, column: str, value: str) -> Consumer:
    await session.execute(
        insert_ignore(session, Consumer, {"id": uuid.uuid4(), column: value}, [column])
    )
    consumer = (
        await session.execute(select(Consumer).where(getattr(Consumer, column) == value))
    ).scalar_one()
    if consumer.merged_into is not None:
        return await resolve_consumer(session, consumer.merged_into)
    return consumer


async def consumer_by_openid(
    session: AsyncSession, openid: str, unionid: str | None = None
) -> Consumer:
    """The WeChat consumer for ``openid``, created on first login."""
    consumer = await _get_or_create(session, "openid", openid)
    if unionid and consumer.unionid != unionid:
        consumer.unionid = unionid
    return consumer


async def consumer_by_device(session: AsyncSession, device_hash: str) -> Consumer:
    """The anonymous consumer of a browser (its hashed ``sgd`` cookie), created on demand."""
    return await _get_or_create(session, "device_hash", device_hash)


async def bind_wechat(
    session: AsyncSession, current: Consumer, openid: str, unionid: str | None
) -> Consumer:
    """Bind ``current`` (anonymous) to a WeChat identity; return the consumer to use now."""
    if current.openid is not None:
        if current.openid == openid:
            return current
        raise Conflict("this consumer is already bound to WeChat", code="already_bound")
    existing = (
        await session.execute(select(Consumer).where(Consumer.openid == openid))
    ).scalar_one_or_none()
    if existing is None:
        current.openid = openid
        current.unionid = unionid
        try:
            await session.flush()
        except IntegrityError as exc:  # the same openid was bound elsewhere at this moment
            raise Conflict(
                "this WeChat identity was bound concurrently; try again", code="bind_conflict"
            ) from exc
        return current
    target = await resolve_consumer(session, existing.id)
    await merge_consumers(session, current.id, target.id)
    return target


async def merge_consumers(
    session: AsyncSession, source_id: uuid.UUID, target_id: uuid.UUID
) -> bool:
    """Move everything of ``source`` to ``target``, exactly once (False: already merged)."""
    if source_id == target_id:
        return False
    won = await session.execute(
        update(Consumer)
        .where(Consumer.id == source_id, Consumer.merged_into.is_(None))
        .values(merged_into=target_id)
    )
    if getattr(won, "rowcount", 0) != 1:
        return False
    brands = (
        (await session.execute(select(Account.brand_id).where(Account.consumer_id == source_id)))
        .scalars()
        .all()
    )
    for brand_id in sorted(brands):
        await _merge_account(session, source_id, target_id, brand_id)
    for model in (Claim, Draw, Redemption, Payout):
        await session.execute(
            update(model).where(model.consumer_id == source_id).values(consumer_id=target_id)
        )
    return True


async def _merge_account(
    session: AsyncSession, source_id: uuid.UUID, target_id: uuid.UUID, brand_id: uuid.UUID
) -> None:
    # Lock both accounts in a fixed order (no deadlock against a merge the other way round).
    for consumer_id in sorted((source_id, target_id)):
        await lock_account(session, consumer_id, brand_id)
    await ensure_account(session, target_id, brand_id)
    lots = open_lots(await account_entries(session, source_id, brand_id))
    moved = sum(lot.remaining for lot in lots)
    if moved:
        await post(
            session,
            consumer_id=source_id,
            brand_id=brand_id,
            delta=-moved,
            reason="merge_out",
            ref_type="consumer",
            ref_id=target_id,
            idem_key=f"merge:{source_id}:{brand_id}:out",
        )
        for lot in lots:
            await post(
                session,
                consumer_id=target_id,
                brand_id=brand_id,
                delta=lot.remaining,
                reason="merge_in",
                ref_type="ledger",
                ref_id=lot.entry_id,
                idem_key=f"merge:{source_id}:{lot.entry_id}",
                expires_at=lot.expires_at,
            )
    pending = await session.scalar(
        select(Account.pending).where(
            Account.consumer_id == source_id, Account.brand_id == brand_id
        )
    )
    if pending:
        for consumer_id, delta, key in (
            (source_id, -pending, "out"),
            (target_id, pending, "in"),
        ):
            await post(
                session,
                consumer_id=consumer_id,
                brand_id=brand_id,
                delta=delta,
                reason=f"merge_{key}",
                ref_type="consumer",
                ref_id=target_id if key == "out" else source_id,
                idem_key=f"merge:{source_id}:{brand_id}:pending:{key}",
                bucket=PENDING,
            )
