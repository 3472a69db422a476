"""Where should a code be? The scan path's question, answered from a current-position projection.

Every shipment, and every unpack, updates the projection in its own transaction:
``unit_positions`` (non-overlapping code_id ranges of loose units) and the position columns
of ``containers``. A unit is where the *newest* of three positions says: its own range's,
its current case's, that case's current pallet's. So resolving a unit costs the same three
indexed point queries however long the chain of shipments behind it (a 10-level transfer
chain of a 100,000-unit range is still one projection row), and never reads ``shipments``.

Results are cached in process per (brand, code) with a TTL. ``invalidate_brand`` (call after
any shipment or aggregation write has committed) bumps the brand's generation here and, with
a real Redis, in every other worker via pub/sub; the TTL bounds staleness if a message is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from anticounterfeit.models import code_id_of
from channel_control.models import Distributor
from channel_control.shipping_models import Aggregation, Container, UnitPosition
from channel_control.territory import Territory, territory_from_json
from kernel.cache import REDIS_DOWN_ERRORS
from kernel.runtime import Runtime

__all__ = ["Destination", "DestinationResolver", "Position", "current_position"]

log = structlog.get_logger("channel_control.destination")

INVALIDATION_CHANNEL = "cc:dest:invalidate"


@dataclass(frozen=True, slots=True)
class Destination:
    """The distributor a unit was last shipped to, with that distributor's territory."""

    distributor_id: uuid.UUID
    distributor_name: str
    territory: Territory
    shipment_id: uuid.UUID
    document_number: str
    shipped_at: datetime
    received: bool


@dataclass(frozen=True, slots=True)
class Position:
    """One projection entry: who holds the thing (None: the brand itself) and since when."""

    distributor_id: uuid.UUID | None
    shipment_id: uuid.UUID
    document_number: str
    shipped_at: datetime
    moved_at: datetime
    received: bool
    source: str  # "unit" | "case" | "pallet": whose projection row said so


def _position(row: object, prefix: str, source: str) -> Position | None:
    shipment_id = getattr(row, f"{prefix}shipment_id")
    moved_at = getattr(row, f"{prefix}moved_at")
    if shipment_id is None or moved_at is None:
        return None
    return Position(
        distributor_id=getattr(row, f"{prefix}distributor_id"),
        shipment_id=shipment_id,
        document_number=getattr(row, f"{prefix}document_number"),
        shipped_at=getattr(row, f"{prefix}shipped_at"),
        moved_at=moved_at,
        received=getattr(row, f"{prefix}received"),
        source=source,
    )


def _position_columns(entity: Any, prefix: str) -> list[Any]:
    return [
        getattr(entity, name).label(f"{prefix}{name}")
        for name in (
            "distributor_id",
            "shipment_id",
            "document_number",
            "shipped_at",
            "moved_at",
            "received",
        )
    ]


async def current_position(
    session: AsyncSession, brand_id: uuid.UUID, code_id: int
) -> tuple[Position | None, uuid.UUID | None, uuid.UUID | None]:
    """(newest position, current case id, current pallet id) of a unit: two indexed queries.

    Query 1: the unit's own range in ``unit_positions`` (index (brand_id, code_start)).
    Query 2: its open aggregation row (partial index on open rows) joined to the case and
    the case's pallet (primary keys).
    """
    own = (
        await session.execute(
            select(UnitPosition.code_end, *_position_columns(UnitPosition, "u_"))
            .where(UnitPosition.brand_id == brand_id, UnitPosition.code_start <= code_id)
            .order_by(UnitPosition.code_start.desc())
            .limit(1)
        )
    ).first()
    case = aliased(Container, name="case_c")
    pallet = aliased(Container, name="pallet_c")
    packed = (
        await session.execute(
            select(
                Aggregation.child_end,
                case.id.label("case_id"),
                pallet.id.label("pallet_id"),
                *_position_columns(case, "c_"),
                *_position_columns(pallet, "p_"),
            )
            .join(case, case.id == Aggregation.parent_id)
            .outerjoin(pallet, pallet.id == case.parent_id)
            .where(
                Aggregation.brand_id == brand_id,
                Aggregation.child_start <= code_id,
                Aggregation.unpacked_at.is_(None),
            )
            .order_by(Aggregation.child_start.desc())
            .limit(1)
        )
    ).first()
    candidates: list[Position] = []
    if own is not None and own.code_end > code_id:
        found = _position(own, "u_", "unit")
        if found:
            candidates.append(found)
    case_id = pallet_id = None
    if packed is not None and packed.child_end > code_id:
        case_id, pallet_id = packed.case_id, packed.pallet_id
        for prefix, source in (("c_", "case"), ("p_", "pallet")):
            found = _position(packed, prefix, source)
            if found:
                candidates.append(found)
    newest = max(candidates, key=lambda p: p.moved_at) if candidates else None
    return newest, case_id, pallet_id


class DestinationResolver:
    """Resolves (brand, kid, index) to the unit's current ``Destination``, cached per code."""

    def __init__(
        self, runtime: Runtime, *, ttl_s: float | None = None, max_entries: int | None = None
    ) -> None:
        self.rt = runtime
        self.ttl_s = runtime.settings.metadata_cache_ttl_s if ttl_s is None else ttl_s
        self.max_entries = (
            runtime.settings.metadata_cache_size if max_entries is None else max_entries
        )
        # (brand, code_id) -> (brand generation, expiry, answer)
        self._cache: OrderedDict[tuple[uuid.UUID, int], tuple[int, float, Destination | None]] = (
            OrderedDict()
        )
        self._generations: dict[uuid.UUID, int] = {}
        self._listener: asyncio.Task[None] | None = None
        self.hits = 0
        self.misses = 0

    # ---- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Subscribe to other workers' invalidations (a real Redis only)."""
        if not self.rt.settings.redis_is_embedded:
            self._listener = asyncio.create_task(self._listen(), name="destination-invalidation")

    async def stop(self) -> None:
        if self._listener:
            self._listener.cancel()
            await asyncio.wait({self._listener}, timeout=2.0)
            self._listener = None

    async def _listen(self) -> None:
        channel = self.rt.key(INVALIDATION_CHANNEL)
        while True:
            pubsub = self.rt.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(channel)
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message and message.get("type") == "message":
                        data = message["data"]
                        text = data.decode() if isinstance(data, bytes) else str(data)
                        self._bump(uuid.UUID(text))
            except asyncio.CancelledError:
                raise
            except (*REDIS_DOWN_ERRORS, RuntimeError, ValueError) as exc:  # type: ignore[misc]  # tuple of exception types
                log.warning("channel_control.destination.listener_failed", error=str(exc))
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(*REDIS_DOWN_ERRORS, RuntimeError):
                    await asyncio.shield(pubsub.aclose())  # type: ignore[no-untyped-call]  # redis-py stub

    # ---- lookups ---------------------------------------------------------------------------
    async def resolve(self, brand_id: uuid.UUID, kid: int, index: int) -> Destination | None:
        """Where the unit (kid, index) of ``brand_id`` was last shipped; None if never shipped
        (or returned to the brand). Cached; at most three indexed queries on a miss."""
        key = (brand_id, code_id_of(kid, index))
        generation = self._generations.get(brand_id, 0)
        entry = self._cache.get(key)
        now = time.monotonic()
        if entry is not None and entry[0] == generation and entry[1] > now:
            self.hits += 1
            self._cache.move_to_end(key)
            return entry[2]
        self.misses += 1
        async with self.rt.session_factory() as session:
            answer = await self._load(session, brand_id, key[1])
        # Stored under the generation seen *before* loading: a write that committed meanwhile
        # has bumped it, so this entry is already stale and will not be served.
        self._cache[key] = (generation, now + self.ttl_s, answer)
        self._cache.move_to_end(key)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return answer

    async def _load(
        self, session: AsyncSession, brand_id: uuid.UUID, code_id: int
    ) -> Destination | None:
        position, _, _ = await current_position(session, brand_id, code_id)
        if position is None or position.distributor_id is None:
            return None
        row = (
            await session.execute(
                select(Distributor.name, Distributor.territory).where(
                    Distributor.id == position.distributor_id
                )
            )
        ).first()
        if row is None:  # pragma: no cover - foreign keys of shipments keep distributors
            return None
        return Destination(
            distributor_id=position.distributor_id,
            distributor_name=row.name,
            territory=territory_from_json(row.territory or {}),
            shipment_id=position.shipment_id,
            document_number=position.document_number,
            shipped_at=position.shipped_at,
            received=position.received,
        )

    # ---- invalidation ------------------------------------------------------------------------
    def _bump(self, brand_id: uuid.UUID) -> None:
        self._generations[brand_id] = self._generations.get(brand_id, 0) + 1

    async def invalidate_brand(self, brand_id: uuid.UUID) -> None:
        """Forget the brand's cached answers in every worker. Call after the write committed."""
        self._bump(brand_id)
        if self.rt.settings.redis_is_embedded or not self.rt.redis_health.available:
            return
        try:
            await self.rt.redis.incr(self.rt.key("cc", "dest", "gen", brand_id))
            await self.rt.redis.publish(self.rt.key(INVALIDATION_CHANNEL), str(brand_id))
        except REDIS_DOWN_ERRORS as exc:
            self.rt.redis_health.record_failure(exc)
