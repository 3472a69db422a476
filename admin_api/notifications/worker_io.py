"""The notification worker's low-level pieces: the webhook address guard at connection time,
the envelope body, and the row writers of a fan-out."""

from __future__ import annotations

import errno
import json
import socket
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from admin_api.notifications.models import (
    ConsumerInboxEntry,
    DistributorInboxEntry,
    NotificationDelivery,
    WebhookSubscription,
)
from kernel.addresses import AddressPolicy
from kernel.outbox import OutboxEvent

__all__ = ["PublicAddressResolver", "envelope_body"]

log = structlog.get_logger("admin_api.notifications.worker")  # the worker's own log name


class PublicAddressResolver(AbstractResolver):
    """DNS for webhooks: a name is used only if every address it resolves to is allowed.

    The address policy (kernel.addresses) runs on the resolved addresses and aiohttp connects
    to exactly those: the address checked is the address used, so a name re-pointed at a
    private address between check and connect (DNS rebinding) gains nothing. A name with any
    refused address is refused whole: a public decoy next to a private target is no
    legitimate set-up. Literal IP URLs never reach a resolver: ``send_webhook`` checks them.
    """

    def __init__(self, policy: AddressPolicy) -> None:
        self._inner = DefaultResolver()
        self._policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            refused = self._policy.refusal(result["host"])
            if refused is not None:
                # errno + text: aiohttp reports an OSError by its strerror
                raise OSError(errno.EACCES, f"{host[:64]} resolves to a refused address: {refused}")
        if not results:
            raise OSError(errno.EACCES, f"{host[:64]} resolves to no address")
        return results

    async def close(self) -> None:
        await self._inner.close()


@dataclass(slots=True)
class _FanoutRows:
    """Rows one fan-out transaction writes, inserted together at its end."""

    deliveries: list[dict[str, Any]] = field(default_factory=list)
    distributor_inbox: list[dict[str, Any]] = field(default_factory=list)
    consumer_inbox: list[dict[str, Any]] = field(default_factory=list)
    brand_subscriptions: dict[uuid.UUID, list[WebhookSubscription]] = field(default_factory=dict)

    async def write(self, session: AsyncSession) -> None:
        await _insert_ignoring_duplicates(
            session, NotificationDelivery, self.deliveries, ["event_id", "channel", "target"]
        )
        await _insert_ignoring_duplicates(
            session, DistributorInboxEntry, self.distributor_inbox, ["event_id", "distributor_id"]
        )
        await _insert_ignoring_duplicates(
            session, ConsumerInboxEntry, self.consumer_inbox, ["event_id", "device_hash"]
        )


def envelope_body(event: OutboxEvent) -> bytes:
    """The JSON body every webhook of ``event`` carries (identical on every attempt)."""
    envelope = {
        "id": str(event.event_uid),
        "type": event.event_type,
        "created_at": event.created_at.isoformat(),
        "brand_id": str(event.brand_id) if event.brand_id else None,
        "subject": {"type": event.subject_type, "id": event.subject_id},
        "data": event.payload,
    }
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()


def _insert(session: AsyncSession, model: type[Any]) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


async def _insert_ignoring_duplicates(
    session: AsyncSession, model: type[Any], rows: list[dict[str, Any]], keys: Sequence[str]
) -> None:
    if rows:
        await session.execute(
            _insert(session, model).on_conflict_do_nothing(index_elements=list(keys)), rows
        )


def _addressed_distributors(payload: Mapping[str, Any]) -> list[uuid.UUID]:
    """``distributor_id`` / ``distributor_ids`` in an event payload (ignores malformed ids)."""
    raw: list[Any] = []
    if payload.get("distributor_id"):
        raw.append(payload["distributor_id"])
    ids = payload.get("distributor_ids")
    if isinstance(ids, list):
        raw.extend(ids)
    found: list[uuid.UUID] = []
    for value in raw:
        try:
            parsed = uuid.UUID(str(value))
        except ValueError:
            log.warning("notifications.event.bad_distributor_id", value=str(value)[:64])
            continue
        if parsed not in found:
            found.append(parsed)
    return found
