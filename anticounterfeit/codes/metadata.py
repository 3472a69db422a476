"""Code metadata for the scan path: which roll, product, batch and lifecycle state a code has.

Three tiers, cache-aside: an in-process dict (no I/O for a warm roll), Redis (shared by all
workers), the database. A roll's range events are compiled once into sorted segments, so the
state of any code in a roll of 10 million is a binary search. Admin changes call
``invalidate`` after their commit: it drops the Redis copy and tells every process (Redis
pub/sub) to drop its own; a short TTL bounds staleness if a message is lost.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from bisect import bisect_right
from collections import OrderedDict
from typing import Literal

import msgspec
import structlog
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from anticounterfeit.catalogue.models import Batch, Brand, Product
from anticounterfeit.codes.models import CodeRangeEvent, CodeRoll
from anticounterfeit.codes.segments import Segment, compile_segments, overlay_recalls
from anticounterfeit.trace.models import RECALL_SEVERITIES, BatchMaterial, Recall, RecallScope
from kernel.cache import REDIS_DOWN_ERRORS
from kernel.pubsub import listen
from kernel.runtime import Runtime

__all__ = [
    "BatchFacts",
    "CodeMetadataService",
    "CodeState",
    "ProductFacts",
    "RecallFacts",
    "RollMetadata",
    "Segment",
    "compile_segments",
    "overlay_recalls",
    "products_by_gtin",
]

log = structlog.get_logger("anticounterfeit.metadata")

CodeStatus = Literal["inactive", "active", "void"]
INVALIDATION_CHANNEL = "ac:invalidate"


class ProductFacts(msgspec.Struct, frozen=True):
    id: uuid.UUID
    gtin: str
    name: str
    description: str | None
    image_url: str | None
    pin_length: int | None


class BatchFacts(msgspec.Struct, frozen=True):
    id: uuid.UUID
    lot: str
    production_date: str
    expiry_date: str | None
    line: str | None


class RecallFacts(msgspec.Struct, frozen=True):
    """An active recall as the scan path shows it (consumer-facing facts only)."""

    id: uuid.UUID
    severity: str
    reason: str
    consumer_instructions: str
    activated_at: str | None


class RollMetadata(msgspec.Struct, frozen=True):
    roll_id: uuid.UUID
    brand_id: uuid.UUID
    brand_name: str
    kid: int
    first_index: int
    count: int
    product: ProductFacts
    batches: dict[uuid.UUID, BatchFacts]
    segments: list[Segment]
    segment_starts: list[int]  # segments[i].start, kept for bisect
    suspicious_distinct_devices: int | None
    recalls: dict[uuid.UUID, RecallFacts] = msgspec.field(default_factory=dict)

    def state_of(self, index: int) -> CodeState:
        """Lifecycle state and batch of the code with global ``index`` (must be in this roll)."""
        seq = index - self.first_index
        segment = self.segments[bisect_right(self.segment_starts, seq) - 1]
        batch = self.batches.get(segment.batch_id) if segment.batch_id else None
        recall = self.recalls.get(segment.recall_id) if segment.recall_id else None
        return CodeState(segment.status, batch, segment.void_reason, seq, recall)


class CodeState(msgspec.Struct, frozen=True):
    status: str
    batch: BatchFacts | None
    void_reason: str | None
    seq: int
    recall: RecallFacts | None = None


class _Directory(msgspec.Struct):
    """Per key id: the rolls seen so far, sorted by first index."""

    starts: list[int]
    ends: list[int]
    roll_ids: list[uuid.UUID]


_encoder = msgspec.msgpack.Encoder()
_roll_decoder = msgspec.msgpack.Decoder(RollMetadata)


class CodeMetadataService:
    """Resolves (kid, index) to roll metadata through the three cache tiers."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.ttl_s = runtime.settings.gateway.metadata_cache_ttl_s
        self.max_entries = runtime.settings.gateway.metadata_cache_size
        self._rolls: OrderedDict[uuid.UUID, tuple[float, RollMetadata]] = OrderedDict()
        self._directories: dict[int, _Directory] = {}
        self._listener: asyncio.Task[None] | None = None
        self.hits = 0
        self.misses = 0

    # ---- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        # The embedded store lives in this one process: local invalidation is all there is.
        if not self.rt.settings.redis.is_embedded:
            self._listener = asyncio.create_task(self._listen(), name="metadata-invalidation")

    async def stop(self) -> None:
        if self._listener:
            self._listener.cancel()
            await asyncio.wait({self._listener}, timeout=2.0)

    async def _listen(self) -> None:
        await listen(
            self.rt,
            self.rt.key(INVALIDATION_CHANNEL),
            lambda text: self._drop_local(uuid.UUID(text)),
        )

    # ---- lookups ---------------------------------------------------------------------------
    async def roll_for(self, kid: int, index: int) -> RollMetadata | None:
        """Metadata of the roll that issued code (kid, index); None if no roll holds it."""
        roll_id = self._directory_lookup(kid, index)
        if roll_id is None:
            roll_id = await self._load_directory_entry(kid, index)
            if roll_id is None:
                return None
        return await self.roll(roll_id)

    async def roll(self, roll_id: uuid.UUID) -> RollMetadata | None:
        entry = self._rolls.get(roll_id)
        now = time.monotonic()
        if entry is not None and entry[0] > now:
            self.hits += 1
            self._rolls.move_to_end(roll_id)
            return entry[1]
        self.misses += 1
        meta = await self._from_redis(roll_id)
        if meta is None:
            async with self.rt.session_factory() as session:
                meta = await load_roll_metadata(session, roll_id)
            if meta is None:
                return None
            await self._to_redis(meta)
        self._remember(meta)
        return meta

    def _remember(self, meta: RollMetadata) -> None:
        self._rolls[meta.roll_id] = (time.monotonic() + self.ttl_s, meta)
        self._rolls.move_to_end(meta.roll_id)
        while len(self._rolls) > self.max_entries:
            self._rolls.popitem(last=False)

    def _directory_lookup(self, kid: int, index: int) -> uuid.UUID | None:
        directory = self._directories.get(kid)
        if directory is None:
            return None
        i = bisect_right(directory.starts, index) - 1
        if i >= 0 and index < directory.ends[i]:
            return directory.roll_ids[i]
        return None

    async def _load_directory_entry(self, kid: int, index: int) -> uuid.UUID | None:
        async with self.rt.session_factory() as session:
            row = (
                await session.execute(
                    select(CodeRoll.id, CodeRoll.first_index, CodeRoll.count)
                    .where(CodeRoll.kid == kid, CodeRoll.first_index <= index)
                    .order_by(CodeRoll.first_index.desc())
                    .limit(1)
                )
            ).first()
        if row is None or index >= row.first_index + row.count:
            return None
        directory = self._directories.setdefault(kid, _Directory([], [], []))
        i = bisect_right(directory.starts, row.first_index)
        directory.starts.insert(i, row.first_index)
        directory.ends.insert(i, row.first_index + row.count)
        roll_id: uuid.UUID = row.id
        directory.roll_ids.insert(i, roll_id)
        return roll_id

    # ---- Redis tier --------------------------------------------------------------------------
    def _redis_key(self, roll_id: uuid.UUID) -> str:
        return self.rt.key("ac", "roll", roll_id)

    async def _from_redis(self, roll_id: uuid.UUID) -> RollMetadata | None:
        if not self.rt.redis_health.available:
            return None
        try:
            raw = await self.rt.redis.get(self._redis_key(roll_id))
        except REDIS_DOWN_ERRORS as exc:
            self.rt.redis_health.record_failure(exc)
            return None
        return _roll_decoder.decode(raw) if isinstance(raw, bytes) else None

    async def _to_redis(self, meta: RollMetadata) -> None:
        if not self.rt.redis_health.available:
            return
        try:
            await self.rt.redis.set(self._redis_key(meta.roll_id), _encoder.encode(meta), ex=3600)
        except REDIS_DOWN_ERRORS as exc:
            self.rt.redis_health.record_failure(exc)

    # ---- invalidation ------------------------------------------------------------------------
    def _drop_local(self, roll_id: uuid.UUID) -> None:
        self._rolls.pop(roll_id, None)

    async def invalidate_for(
        self,
        *,
        brand_id: uuid.UUID | None = None,
        product_id: uuid.UUID | None = None,
        batch_id: uuid.UUID | None = None,
    ) -> int:
        """Forget every roll whose facts come from this brand, product or batch.

        Call after the change is committed; returns how many rolls were invalidated.
        """
        query = select(CodeRoll.id)
        if brand_id is not None:
            query = query.where(CodeRoll.brand_id == brand_id)
        if product_id is not None:
            query = query.where(CodeRoll.product_id == product_id)
        if batch_id is not None:
            bound_later = select(CodeRangeEvent.roll_id).where(CodeRangeEvent.batch_id == batch_id)
            query = query.where(or_(CodeRoll.batch_id == batch_id, CodeRoll.id.in_(bound_later)))
        async with self.rt.session_factory() as session:
            roll_ids = list((await session.execute(query)).scalars())
        await self.invalidate(*roll_ids)
        return len(roll_ids)

    async def invalidate(self, *roll_ids: uuid.UUID) -> None:
        """Forget rolls everywhere. Call after the change has been committed."""
        for roll_id in roll_ids:
            self._drop_local(roll_id)
        if not roll_ids or not self.rt.redis_health.available:
            return
        try:
            await self.rt.redis.delete(*(self._redis_key(r) for r in roll_ids))
            for roll_id in roll_ids:
                await self.rt.redis.publish(self.rt.key(INVALIDATION_CHANNEL), str(roll_id))
        except REDIS_DOWN_ERRORS as exc:
            self.rt.redis_health.record_failure(exc)


async def load_roll_metadata(session: AsyncSession, roll_id: uuid.UUID) -> RollMetadata | None:
    """Build a roll's metadata from the database (the cache-miss path)."""
    roll = await session.get(CodeRoll, roll_id)
    if roll is None:
        return None
    product = await session.get(Product, roll.product_id)
    brand = await session.get(Brand, roll.brand_id)
    assert product is not None  # foreign keys guarantee both
    assert brand is not None
    events = (
        (
            await session.execute(
                select(CodeRangeEvent)
                .where(CodeRangeEvent.roll_id == roll_id)
                .order_by(CodeRangeEvent.id)
            )
        )
        .scalars()
        .all()
    )
    batch_ids = {e.batch_id for e in events if e.batch_id} | (
        {roll.batch_id} if roll.batch_id else set()
    )
    batches: dict[uuid.UUID, BatchFacts] = {}
    if batch_ids:
        for batch in (
            await session.execute(select(Batch).where(Batch.id.in_(batch_ids)))
        ).scalars():
            batches[batch.id] = BatchFacts(
                id=batch.id,
                lot=batch.lot,
                production_date=batch.production_date.isoformat(),
                expiry_date=batch.expiry_date.isoformat() if batch.expiry_date else None,
                line=batch.line,
            )
    segments = compile_segments(
        roll.count,
        roll.batch_id,
        [(e.seq_start, e.seq_end, e.action, e.batch_id, e.reason) for e in events],
    )
    recalls, batch_recalls, range_recalls, rank = await _active_recalls(session, roll, batch_ids)
    segments = overlay_recalls(segments, roll.count, batch_recalls, range_recalls, rank)
    return RollMetadata(
        roll_id=roll.id,
        brand_id=roll.brand_id,
        brand_name=brand.name,
        kid=roll.kid,
        first_index=roll.first_index,
        count=roll.count,
        product=ProductFacts(
            id=product.id,
            gtin=product.gtin,
            name=product.name,
            description=product.description,
            image_url=product.image_url,
            pin_length=product.pin_length,
        ),
        batches=batches,
        segments=segments,
        segment_starts=[s.start for s in segments],
        suspicious_distinct_devices=brand.suspicious_distinct_devices,
        recalls=recalls,
    )


async def _active_recalls(
    session: AsyncSession, roll: CodeRoll, batch_ids: set[uuid.UUID]
) -> tuple[
    dict[uuid.UUID, RecallFacts],
    dict[uuid.UUID, uuid.UUID],
    list[tuple[int, int, uuid.UUID]],
    dict[uuid.UUID, int],
]:
    """Active recalls touching this roll: by batch, by a material lot one of its batches
    consumed, or by an explicit range of this roll (cache-miss path only)."""
    lots_to_batches: dict[uuid.UUID, set[uuid.UUID]] = {}
    if batch_ids:
        for batch_id, lot_id in (
            await session.execute(
                select(BatchMaterial.batch_id, BatchMaterial.material_lot_id).where(
                    BatchMaterial.batch_id.in_(batch_ids)
                )
            )
        ).all():
            lots_to_batches.setdefault(lot_id, set()).add(batch_id)
    covers = [and_(RecallScope.kind == "code_range", RecallScope.roll_id == roll.id)]
    if batch_ids:
        covers.append(and_(RecallScope.kind == "batch", RecallScope.batch_id.in_(batch_ids)))
    if lots_to_batches:
        covers.append(
            and_(
                RecallScope.kind == "material_lot",
                RecallScope.material_lot_id.in_(list(lots_to_batches)),
            )
        )
    rows = (
        await session.execute(
            select(Recall, RecallScope)
            .join(RecallScope, RecallScope.recall_id == Recall.id)
            .where(Recall.brand_id == roll.brand_id, Recall.status == "active", or_(*covers))
        )
    ).all()
    facts: dict[uuid.UUID, RecallFacts] = {}
    rank_keys: dict[uuid.UUID, tuple[int, str, str]] = {}
    by_batch: dict[uuid.UUID, list[uuid.UUID]] = {}
    ranges: list[tuple[int, int, uuid.UUID]] = []
    for recall, scope in rows:
        activated = recall.activated_at.isoformat() if recall.activated_at else None
        facts[recall.id] = RecallFacts(
            recall.id, recall.severity, recall.reason, recall.consumer_instructions, activated
        )
        rank_keys[recall.id] = (
            RECALL_SEVERITIES.index(recall.severity),
            activated or "",
            str(recall.id),
        )
        if scope.kind == "batch" and scope.batch_id is not None:
            by_batch.setdefault(scope.batch_id, []).append(recall.id)
        elif scope.kind == "material_lot" and scope.material_lot_id is not None:
            for batch_id in lots_to_batches.get(scope.material_lot_id, ()):
                by_batch.setdefault(batch_id, []).append(recall.id)
        elif scope.kind == "code_range":
            ranges.append((int(scope.seq_start or 0), int(scope.seq_end or 0), recall.id))
    rank = {r: i for i, r in enumerate(sorted(rank_keys, key=rank_keys.__getitem__))}
    batch_recalls = {b: min(rs, key=rank.__getitem__) for b, rs in by_batch.items()}
    return facts, batch_recalls, ranges, rank


async def products_by_gtin(
    session: AsyncSession, gtins: set[str]
) -> dict[str, tuple[uuid.UUID, uuid.UUID]]:
    """Map GTIN-14s to (brand_id, product_id) for the ones registered here."""
    if not gtins:
        return {}
    rows = await session.execute(
        select(Product.gtin, Product.brand_id, Product.id).where(Product.gtin.in_(gtins))
    )
    return {gtin: (brand_id, product_id) for gtin, brand_id, product_id in rows.all()}
