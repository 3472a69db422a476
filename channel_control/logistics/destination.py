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
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    CompoundSelect,
    Uuid,
    bindparam,
    cast,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import aliased

from anticounterfeit.codes.identity import code_id_of
from channel_control.distributors.models import Distributor
from channel_control.distributors.territory import Territory, territory_from_json
from channel_control.logistics.models import Aggregation, Container, UnitPosition
from kernel.cache import REDIS_DOWN_ERRORS
from kernel.pubsub import listen
from kernel.runtime import Runtime

__all__ = [
    "POSITION_FIELDS",
    "Destination",
    "DestinationResolver",
    "Position",
    "current_position",
    "position_of_row",
]

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


def position_of_row(row: Any, source: str) -> Position | None:
    """The position a projection row carries, or None if it has none."""
    if row.shipment_id is None or row.moved_at is None:
        return None
    return Position(
        distributor_id=row.distributor_id,
        shipment_id=row.shipment_id,
        document_number=row.document_number,
        shipped_at=row.shipped_at,
        moved_at=row.moved_at,
        received=bool(row.received),
        source=source,
    )


# The projection columns every position row carries (unit_positions, containers).
POSITION_FIELDS = (
    "distributor_id",
    "shipment_id",
    "document_number",
    "shipped_at",
    "moved_at",
    "received",
)


def _build_statement() -> CompoundSelect[Any]:
    """The resolver's one statement, built once (constructing ORM selects with aliases costs
    milliseconds per call; executing a prebuilt one with bound values does not).

    Up to three rows, one round trip: the unit's own projection range (index (brand_id,
    code_start)), its open case (partial index on open aggregation rows, then primary keys)
    and that case's pallet, each with its holder's name and territory.
    """
    brand_id: BindParameter[Any] = bindparam("brand_id")
    code_id: BindParameter[Any] = bindparam("code_id")
    no_id = cast(null(), Uuid())  # typed: PostgreSQL cannot UNION an untyped NULL with uuid

    def holder_columns(entity: Any, holder: Any) -> list[Any]:
        return [
            *(getattr(entity, name).label(name) for name in POSITION_FIELDS),
            holder.name.label("holder_name"),
            holder.territory.label("holder_territory"),
        ]

    unit_holder = aliased(Distributor, name="unit_holder")
    own = (
        select(
            literal("unit").label("source"),
            UnitPosition.code_end.label("child_end"),
            no_id.label("case_id"),
            no_id.label("pallet_id"),
            *holder_columns(UnitPosition, unit_holder),
        )
        .outerjoin(unit_holder, unit_holder.id == UnitPosition.distributor_id)
        .where(UnitPosition.brand_id == brand_id, UnitPosition.code_start <= code_id)
        .order_by(UnitPosition.code_start.desc())
        .limit(1)
    )
    branches = [own]
    for source in ("case", "pallet"):
        case = aliased(Container, name="case_c")
        pallet = aliased(Container, name="pallet_c")
        holder = aliased(Distributor, name="holder")
        mover = case if source == "case" else pallet
        branch = select(
            literal(source).label("source"),
            Aggregation.child_end.label("child_end"),
            case.id.label("case_id"),
            pallet.id.label("pallet_id"),
            *holder_columns(mover, holder),
        ).join(case, case.id == Aggregation.parent_id)
        if source == "case":
            branch = branch.outerjoin(pallet, pallet.id == case.parent_id)
        else:  # the pallet row only exists when the case is on one
            branch = branch.join(pallet, pallet.id == case.parent_id)
        branches.append(
            branch.outerjoin(holder, holder.id == mover.distributor_id)
            .where(
                Aggregation.brand_id == brand_id,
                Aggregation.child_start <= code_id,
                Aggregation.unpacked_at.is_(None),
            )
            .order_by(Aggregation.child_start.desc())
            .limit(1)
        )
    return union_all(*(select(b.subquery()) for b in branches))


_WHERE = _build_statement()
_ANY_POSITION = union_all(
    select(literal(1))
    .where(UnitPosition.brand_id == bindparam("brand_id"))
    .limit(1)
    .subquery()
    .select(),
    select(literal(1))
    .where(Container.brand_id == bindparam("brand_id"), Container.shipment_id.is_not(None))
    .limit(1)
    .subquery()
    .select(),
)


async def _where_rows(
    session: AsyncSession | AsyncConnection, brand_id: uuid.UUID, code_id: int
) -> list[Any]:
    """The projection rows that apply to the unit now (its own range, its case, its pallet)."""
    rows = (await session.execute(_WHERE, {"brand_id": brand_id, "code_id": code_id})).all()
    return [r for r in rows if r.child_end > code_id]


def _newest(rows: list[Any]) -> tuple[Any | None, Position | None]:
    best_row, best = None, None
    for row in rows:
        found = position_of_row(row, row.source)
        if found is not None and (best is None or found.moved_at > best.moved_at):
            best_row, best = row, found
    return best_row, best


async def current_position(
    session: AsyncSession, brand_id: uuid.UUID, code_id: int
) -> tuple[Position | None, uuid.UUID | None, uuid.UUID | None]:
    """(newest position, current case id, current pallet id) of a unit, in one statement
    that reads only the projection and distributors (never ``shipments``)."""
    rows = await _where_rows(session, brand_id, code_id)
    case_id = next((r.case_id for r in rows if r.source == "case"), None)
    pallet_id = next((r.pallet_id for r in rows if r.source == "case"), None)
    return _newest(rows)[1], case_id, pallet_id


class DestinationResolver:
    """Resolves (brand, kid, index) to the unit's current ``Destination``, cached per code."""

    def __init__(
        self, runtime: Runtime, *, ttl_s: float | None = None, max_entries: int | None = None
    ) -> None:
        self.rt = runtime
        self.ttl_s = runtime.settings.gateway.metadata_cache_ttl_s if ttl_s is None else ttl_s
        self.max_entries = (
            runtime.settings.gateway.metadata_cache_size if max_entries is None else max_entries
        )
        # (brand, code_id) -> (brand generation, expiry, answer)
        self._cache: OrderedDict[tuple[uuid.UUID, int], tuple[int, float, Destination | None]] = (
            OrderedDict()
        )
        self._generations: dict[uuid.UUID, int] = {}
        # brand -> (generation, expiry, has any projection row): skips the query for brands
        # that have not shipped anything
        self._ships: dict[uuid.UUID, tuple[int, float, bool]] = {}
        self._listener: asyncio.Task[None] | None = None
        self.hits = 0
        self.misses = 0

    # ---- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Subscribe to other workers' invalidations (a real Redis only)."""
        if not self.rt.settings.redis.is_embedded:
            self._listener = asyncio.create_task(
                listen(self.rt, self.rt.key(INVALIDATION_CHANNEL), self._on_message),
                name="destination-invalidation",
            )

    async def stop(self) -> None:
        if self._listener:
            self._listener.cancel()
            await asyncio.wait({self._listener}, timeout=2.0)
            self._listener = None

    def _on_message(self, text: str) -> None:
        self._bump(uuid.UUID(text))

    # ---- lookups ---------------------------------------------------------------------------
    async def resolve(self, brand_id: uuid.UUID, kid: int, index: int) -> Destination | None:
        """Where the unit (kid, index) of ``brand_id`` was last shipped; None if never shipped
        (or returned to the brand). Cached; one indexed statement on a miss, none for a brand
        that has shipped nothing yet (known per brand, same generation and TTL)."""
        key = (brand_id, code_id_of(kid, index))
        generation = self._generations.get(brand_id, 0)
        entry = self._cache.get(key)
        now = time.monotonic()
        if entry is not None and entry[0] == generation and entry[1] > now:
            self.hits += 1
            self._cache.move_to_end(key)
            return entry[2]
        self.misses += 1
        ships = self._ships.get(brand_id)
        if ships is not None and ships[0] == generation and ships[1] > now and not ships[2]:
            return None  # no channel data at all: most scans of a brand not using it
        # A bare connection, not an ORM session: one statement, no unit of work to set up.
        async with self.rt.engine.connect() as conn:
            if ships is None or ships[0] != generation or ships[1] <= now:
                shipped = (await conn.execute(_ANY_POSITION, {"brand_id": brand_id})).first()
                self._ships[brand_id] = (generation, now + self.ttl_s, shipped is not None)
                if shipped is None:
                    return None
            answer = await self._load(conn, brand_id, key[1])
        # Stored under the generation seen *before* loading: a write that committed meanwhile
        # has bumped it, so this entry is already stale and will not be served.
        self._cache[key] = (generation, now + self.ttl_s, answer)
        self._cache.move_to_end(key)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return answer

    async def _load(
        self, conn: AsyncConnection, brand_id: uuid.UUID, code_id: int
    ) -> Destination | None:
        row, position = _newest(await _where_rows(conn, brand_id, code_id))
        if row is None or position is None or position.distributor_id is None:
            return None
        return Destination(
            distributor_id=position.distributor_id,
            distributor_name=row.holder_name,
            territory=territory_from_json(row.holder_territory or {}),
            shipment_id=position.shipment_id,
            document_number=position.document_number,
            shipped_at=position.shipped_at,
            received=bool(position.received),
        )

    # ---- invalidation ------------------------------------------------------------------------
    def _bump(self, brand_id: uuid.UUID) -> None:
        self._generations[brand_id] = self._generations.get(brand_id, 0) + 1

    def generation(self, brand_id: uuid.UUID) -> int:
        """The brand's cache generation: it moves whenever the brand's positions may have
        changed (here or, through pub/sub, in another worker). Caches built on top of this
        resolver compare it to decide whether what they hold is still valid."""
        return self._generations.get(brand_id, 0)

    async def invalidate_brand(self, brand_id: uuid.UUID) -> None:
        """Forget the brand's cached answers in every worker. Call after the write committed."""
        self._bump(brand_id)
        if self.rt.settings.redis.is_embedded or not self.rt.redis_health.available:
            return
        try:
            await self.rt.redis.incr(self.rt.key("cc", "dest", "gen", brand_id))
            await self.rt.redis.publish(self.rt.key(INVALIDATION_CHANNEL), str(brand_id))
        except REDIS_DOWN_ERRORS as exc:
            self.rt.redis_health.record_failure(exc)
