"""The scan hot path.

    parse → MAC check (memory) → roll metadata (memory / Redis / DB) → one Redis round trip
    (rate limits, first-scan claim, counters, distinct devices) → group-committed scan log
    (the database confirms the first scan) → verdict.

A forged code stops after the MAC check with no I/O. Redis is a fast path, never the truth:
when it is down (circuit open) or has lost a code's state, the database answers.
"""

from __future__ import annotations

import gc
import hashlib
import hmac
import itertools
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import func, select

from anticounterfeit.codes.format import Keyring, verify_code
from anticounterfeit.codes.identity import code_id_of
from anticounterfeit.codes.metadata import (
    BatchFacts,
    CodeMetadataService,
    ProductFacts,
    RecallFacts,
    RollMetadata,
)
from anticounterfeit.gs1.digital_link import DigitalLink
from channel_control.diversion.recorder import DiversionRecorder
from channel_control.logistics.destination import Destination
from gateway.counterfeits import CounterfeitRecorder
from gateway.geo import (
    DEFAULT_GPS_ACCURACY_M,
    GpsFix,
    Locator,
    Position,
    ScanLocation,
    impossible_travel,
)
from gateway.models import CodeFirstScan, Scan
from gateway.scanlog import ScanLogWriter, ScanRecord
from kernel.cache import REDIS_DOWN_ERRORS
from kernel.db import utcnow
from kernel.errors import RateLimited, ServiceUnavailable
from kernel.runtime import Runtime

__all__ = ["ScanContext", "ScanOutcome", "ScanService", "ScanStats"]

log = structlog.get_logger("gateway.scan")

# One atomic step per scan. KEYS: code hash, code device set, IP window, device window.
# ARGV: now_ms, device, claim (1 = code is active), place, ip_limit, device_limit, window_s,
#       state_ttl_s, lat, lon, uncertainty_m (all '' when the scan has no position), max_kmh.
# Returns {-1|-2, retry_after} when limited, else
#       {first (1/0), count, distinct_devices, first_ms, first_place, travel (1/0)}.
# Impossible travel (same rule as gateway.geo.impossible_travel): the code's last located
# position (la, lo, u, t) against this one; once convicted ('x') the code stays suspicious.
SCAN_SCRIPT = """
local ipc = redis.call('INCR', KEYS[3])
if ipc == 1 then redis.call('EXPIRE', KEYS[3], ARGV[7]) end
if ipc > tonumber(ARGV[5]) then return {-1, redis.call('TTL', KEYS[3])} end
local dvc = redis.call('INCR', KEYS[4])
if dvc == 1 then redis.call('EXPIRE', KEYS[4], ARGV[7]) end
if dvc > tonumber(ARGV[6]) then return {-2, redis.call('TTL', KEYS[4])} end
if ARGV[3] ~= '1' then return {0, 0, 0, '', '', 0} end
local first = redis.call('HSETNX', KEYS[1], 'f', ARGV[1])
if first == 1 then redis.call('HSET', KEYS[1], 'p', ARGV[4]) end
local count = redis.call('HINCRBY', KEYS[1], 'c', 1)
redis.call('SADD', KEYS[2], ARGV[2])
local devices = redis.call('SCARD', KEYS[2])
redis.call('EXPIRE', KEYS[1], ARGV[8])
redis.call('EXPIRE', KEYS[2], ARGV[8])
local f = redis.call('HMGET', KEYS[1], 'f', 'p')
local travel = 0
if ARGV[9] ~= '' then
  local prev = redis.call('HMGET', KEYS[1], 'la', 'lo', 'u', 't', 'x')
  if prev[5] == '1' then
    travel = 1
  elseif prev[1] then
    local la1, lo1 = math.rad(tonumber(prev[1])), math.rad(tonumber(prev[2]))
    local la2, lo2 = math.rad(tonumber(ARGV[9])), math.rad(tonumber(ARGV[10]))
    local a = math.sin((la2 - la1) / 2) ^ 2
      + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ^ 2
    local d = 2 * 6371008.8 * math.asin(math.min(1, math.sqrt(a)))
    local slack = d - tonumber(prev[3]) - tonumber(ARGV[11])
    local hours = math.abs(tonumber(ARGV[1]) - tonumber(prev[4])) / 3600000
    if slack > 0 and slack > tonumber(ARGV[12]) * 1000 * hours then travel = 1 end
  end
  if travel == 1 then redis.call('HSET', KEYS[1], 'x', '1') end
  redis.call('HSET', KEYS[1], 'la', ARGV[9], 'lo', ARGV[10], 'u', ARGV[11], 't', ARGV[1])
elseif redis.call('HGET', KEYS[1], 'x') == '1' then
  travel = 1
end
return {first, count, devices, f[1] or '', f[2] or '', travel}
"""

# Undo a first-scan claim whose scan could not be recorded. KEYS: code hash, device set.
# ARGV: the claim's first_ms, device. Only if no later scan has replaced the claim.
FORGET_SCRIPT = """
if redis.call('HGET', KEYS[1], 'f') == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'f', 'p')
  redis.call('HINCRBY', KEYS[1], 'c', -1)
  redis.call('SREM', KEYS[2], ARGV[2])
end
return 0
"""

STATE_TTL_S = 400 * 24 * 3600  # a code's hot state outlives a year of shelf life
WINDOW_S = 60
COUNTED_VERDICTS = ("genuine", "already_scanned", "suspicious")
TRAVEL_HISTORY = 50  # located scans the database fallback checks for impossible travel
MAX_REPAIRED_DEVICES = 1_000  # enough to judge cloning; a clone seen by more is suspicious anyway


@dataclass(frozen=True, slots=True)
class ScanContext:
    """Who scanned and how: everything the hot path needs besides the code itself."""

    ip: str
    device_id: str
    channel: str  # json | html
    user_agent: str | None = None
    gps: GpsFix | None = None


@dataclass(frozen=True, slots=True)
class ScanStats:
    count: int
    distinct_devices: int
    first_scanned_at: datetime | None
    first_place: str | None
    devices: tuple[str, ...] = ()  # device hashes, only when read from the database


@dataclass(frozen=True, slots=True)
class ScanOutcome:
    verdict: str
    gtin: str
    serial: str | None
    reason: str | None = None
    scan_id: uuid.UUID | None = None
    product: ProductFacts | None = None
    brand_name: str | None = None
    batch: BatchFacts | None = None
    stats: ScanStats | None = None
    void_reason: str | None = None
    location: ScanLocation | None = None
    degraded: bool = False  # answered without Redis
    recall: RecallFacts | None = None  # an active recall covers this code: show it, any verdict


class ScanService:
    def __init__(
        self,
        runtime: Runtime,
        keyring: Keyring,
        metadata: CodeMetadataService,
        locator: Locator | None = None,
        channel: DiversionRecorder | None = None,
    ) -> None:
        self.rt = runtime
        self.channel = channel  # diversion checks (None: SCANGUARD_CHANNEL_CHECKS=0)
        self.settings = runtime.settings
        self.keyring = keyring
        self.metadata = metadata
        self.locator = locator or Locator(runtime.settings.gateway.geoip_database)
        self.scanlog = ScanLogWriter(
            runtime.engine,
            flush_interval_s=self.settings.gateway.scanlog_flush_interval_s,
            max_batch=self.settings.gateway.scanlog_max_batch,
        )
        self.counterfeits = CounterfeitRecorder(
            runtime.session_factory,
            per_ip_per_minute=self.settings.gateway.counterfeit_ip_per_minute,
        )
        self._device_key = hmac.new(
            self.settings.auth.jwt_secret, b"scanguard/device", "sha256"
        ).digest()
        self._script: Any = None

    async def start(self) -> None:
        self._script = self.rt.redis.register_script(SCAN_SCRIPT)
        await self.scanlog.start()
        await self.counterfeits.start()
        # Everything built so far (app, routes, mappers, compiled caches) lives as long as the
        # process: move it out of the collector's view, so full collections during request
        # handling (which stall every request in flight) scan only what was created since.
        gc.collect()
        gc.freeze()

    async def stop(self) -> None:
        await self.scanlog.stop()
        await self.counterfeits.stop()
        self.locator.close()

    def device_hash(self, device_id: str) -> str:
        """Keyed hash: raw device ids (openids, cookies) are never stored."""
        return hashlib.blake2b(device_id.encode(), key=self._device_key, digest_size=16).hexdigest()

    # ---------------------------------------------------------------------------------------
    async def scan(self, link: DigitalLink, ctx: ScanContext) -> ScanOutcome:
        """Resolve one consumer scan to a verdict and record it."""
        serial = link.serial
        decoded = verify_code(self.keyring, serial, link.gtin) if serial else None
        if decoded is None:
            return self._counterfeit(link, ctx, "unknown_code" if serial else "no_serial")
        meta = await self.metadata.roll_for(decoded.kid, decoded.index)
        if meta is None:
            return self._counterfeit(link, ctx, "unknown_code")
        if meta.product.gtin != link.gtin:
            return self._counterfeit(link, ctx, "gtin_mismatch")
        state = meta.state_of(decoded.index)
        code_id = code_id_of(decoded.kid, decoded.index)
        device = self.device_hash(ctx.device_id)
        location = self.locator.locate(ctx.ip, ctx.gps)
        active = state.status == "active"
        now = utcnow()

        hot = await self._redis_step(
            code_id, device, ctx.ip, now, active, location.coarse_place, location.position
        )
        if not active:
            verdict = state.status  # inactive | void
        elif hot is not None and hot[0] != 1:
            verdict = "suspicious" if hot[5] else self._repeat_verdict(meta, hot[2])
        else:
            verdict = "genuine"  # provisional: the scan log's first-scan claim decides
        # Channel check: where should this unit be (cached), is the scan outside that territory?
        destination: Destination | None = None
        diverted: bool | None = None
        if self.channel is not None and active:
            destination = await self.channel.resolve(meta.brand_id, decoded.kid, decoded.index)
            if destination is not None:
                diverted = self.channel.judge(destination, location)
        record = ScanRecord(
            scan_uid=uuid.uuid4(),
            scanned_at=now,
            code_id=code_id,
            brand_id=meta.brand_id,
            product_id=meta.product.id,
            roll_id=meta.roll_id,
            verdict=verdict,
            device_hash=device,
            ip=ctx.ip,
            channel=ctx.channel,
            user_agent=ctx.user_agent[:200] if ctx.user_agent else None,
            country=location.country,
            region=location.region,
            city=location.city,
            lat=location.lat,
            lon=location.lon,
            accuracy_m=location.accuracy_m,
            location_source=location.source,
            location_confidence=location.confidence,
            distributor_id=destination.distributor_id if destination else None,
            shipment_id=destination.shipment_id if destination else None,
            diverted=diverted,
            recall_id=state.recall.id if state.recall else None,  # a recall hit
            claims_first=verdict == "genuine",
        )
        try:
            await self.scanlog.record(record)
        except ServiceUnavailable:
            if hot is not None and hot[0] == 1:
                await self._forget_first_claim(code_id, device, now)
            raise
        verdict = record.verdict
        if diverted is not None and destination is not None and self.channel is not None:
            self.channel.observe(  # buffered: written by the recorder's background task
                destination,
                location,
                diverted,
                brand_id=meta.brand_id,
                scan_uid=record.scan_uid,
                at=now,
                code_id=code_id,
                serial=serial or "",
                gtin=link.gtin,
                product_id=meta.product.id,
                product_name=meta.product.name,
                batch_id=state.batch.id if state.batch else None,
                lot=state.batch.lot if state.batch else None,
            )

        stats: ScanStats | None = None
        if active:
            if verdict == "genuine":  # the database confirmed this is the code's first scan
                stats = ScanStats(1, 1, now, location.coarse_place)
            elif hot is not None and hot[0] != 1:
                stats = ScanStats(hot[1], hot[2], _from_ms(hot[3]), hot[4] or None)
            else:
                # Redis is down, or it forgot this code (the database had a first scan already).
                stats = await self._stats_from_db(code_id)
                travel = await self._travel_from_db(code_id, record.scan_uid, now, location)
                if hot is not None:
                    await self._repair_redis(code_id, stats, location.position, now, travel)
                verdict = (
                    "suspicious" if travel else self._repeat_verdict(meta, stats.distinct_devices)
                )
        return ScanOutcome(
            verdict=verdict,
            gtin=link.gtin,
            serial=serial,
            scan_id=record.scan_uid,
            product=meta.product if state.status != "inactive" else None,
            brand_name=meta.brand_name,
            batch=state.batch if state.status != "inactive" else None,
            stats=stats,
            void_reason=state.void_reason if state.status == "void" else None,
            location=location,
            degraded=hot is None,
            recall=state.recall,
        )

    def _repeat_verdict(self, meta: RollMetadata, distinct_devices: int) -> str:
        limit = (
            meta.suspicious_distinct_devices or self.settings.gateway.suspicious_distinct_devices
        )
        return "suspicious" if distinct_devices > limit else "already_scanned"

    def _counterfeit(self, link: DigitalLink, ctx: ScanContext, reason: str) -> ScanOutcome:
        self.counterfeits.check_and_record(link.gtin, ctx.ip, reason)
        return ScanOutcome(verdict="counterfeit", gtin=link.gtin, serial=link.serial, reason=reason)

    # ---------------------------------------------------------------------------------------
    async def _redis_step(
        self,
        code_id: int,
        device: str,
        ip: str,
        now: datetime,
        active: bool,
        place: str | None,
        position: Position | None,
    ) -> tuple[int, int, int, str, str, int] | None:
        """Run the scan script; None when Redis is unavailable (the caller uses the database)."""
        health = self.rt.redis_health
        if not health.available:
            return None
        window = int(time.time() // WINDOW_S)
        keys = [
            self.rt.key("gw", "code", f"{{{code_id}}}"),
            self.rt.key("gw", "dev", f"{{{code_id}}}"),
            self.rt.key("gw", "rl", "ip", ip, window),
            self.rt.key("gw", "rl", "dev", device, window),
        ]
        args = [
            int(now.timestamp() * 1000),
            device,
            1 if active else 0,
            place or "",
            self.settings.gateway.rate_limit_ip_per_minute,
            self.settings.gateway.rate_limit_device_per_minute,
            WINDOW_S,
            STATE_TTL_S,
            *(
                (position.lat, position.lon, round(position.uncertainty_m))
                if position is not None
                else ("", "", "")
            ),
            self.settings.channel.impossible_travel_kmh,
        ]
        try:
            result = await self._script(keys=keys, args=args)
        except REDIS_DOWN_ERRORS as exc:
            health.record_failure(exc)
            return None
        health.record_success()
        status = int(result[0])
        if status < 0:
            retry_after = max(1, int(result[1]))
            what = "address" if status == -1 else "device"
            raise RateLimited(
                f"too many scans from this {what}; try again later", retry_after=retry_after
            )
        return (
            status,
            int(result[1]),
            int(result[2]),
            _text(result[3]),
            _text(result[4]),
            int(result[5]),
        )

    async def _stats_from_db(self, code_id: int) -> ScanStats:
        async with self.rt.session_factory() as session:
            first = await session.get(CodeFirstScan, code_id)
            row = (
                await session.execute(
                    select(func.count(), func.count(func.distinct(Scan.device_hash))).where(
                        Scan.code_id == code_id, Scan.verdict.in_(COUNTED_VERDICTS)
                    )
                )
            ).one()
            devices = (
                await session.execute(
                    select(Scan.device_hash)
                    .where(Scan.code_id == code_id, Scan.verdict.in_(COUNTED_VERDICTS))
                    .distinct()
                    .limit(MAX_REPAIRED_DEVICES)
                )
            ).scalars()
            device_hashes = tuple(devices)
        return ScanStats(
            count=int(row[0]),
            distinct_devices=int(row[1]),
            first_scanned_at=first.scanned_at if first else None,
            first_place=(first.region or first.country) if first else None,
            devices=device_hashes,
        )

    async def _travel_from_db(
        self, code_id: int, scan_uid: uuid.UUID, now: datetime, location: ScanLocation
    ) -> bool:
        """Impossible travel when Redis cannot tell, from the scan log alone: a scan already
        judged suspicious, or any two consecutive located scans among the code's latest
        ``TRAVEL_HISTORY`` and this one too far apart. (IP-located scans are located again
        from their stored IP: the log keeps no IP position.)"""
        async with self.rt.session_factory() as session:
            convicted = await session.scalar(
                select(Scan.id)
                .where(Scan.code_id == code_id, Scan.verdict == "suspicious")
                .limit(1)
            )
            if convicted is not None:
                return True
            rows = (
                await session.execute(
                    select(Scan.scanned_at, Scan.lat, Scan.lon, Scan.accuracy_m, Scan.ip)
                    .where(
                        Scan.code_id == code_id,
                        Scan.scan_uid != scan_uid,
                        Scan.location_source != "none",
                    )
                    .order_by(Scan.scanned_at.desc())
                    .limit(TRAVEL_HISTORY)
                )
            ).all()
        trail: list[tuple[int, Position]] = []
        for row in reversed(rows):
            if row.lat is not None and row.lon is not None:
                position = Position(row.lat, row.lon, row.accuracy_m or DEFAULT_GPS_ACCURACY_M)
            else:
                found = self.locator.locate(row.ip, None).position
                if found is None:
                    continue
                position = found
            trail.append((int(row.scanned_at.timestamp() * 1000), position))
        if location.position is not None:
            trail.append((int(now.timestamp() * 1000), location.position))
        max_kmh = self.settings.channel.impossible_travel_kmh
        return any(
            impossible_travel(p1, t1, p2, t2, max_kmh=max_kmh)
            for (t1, p1), (t2, p2) in itertools.pairwise(trail)
        )

    async def _repair_redis(
        self,
        code_id: int,
        stats: ScanStats,
        position: Position | None = None,
        now: datetime | None = None,
        travel: bool = False,
    ) -> None:
        """Put back what Redis forgot, from the database (rare: after a Redis restart)."""
        if stats.first_scanned_at is None:
            return
        key = self.rt.key("gw", "code", f"{{{code_id}}}")
        mapping: dict[Any, Any] = {
            "f": int(stats.first_scanned_at.timestamp() * 1000),
            "p": stats.first_place or "",
            "c": stats.count,
        }
        if position is not None and now is not None:
            mapping.update(
                la=position.lat,
                lo=position.lon,
                u=round(position.uncertainty_m),
                t=int(now.timestamp() * 1000),
            )
        if travel:
            mapping["x"] = "1"
        try:
            await self.rt.redis.hset(key, mapping=mapping)
            await self.rt.redis.expire(key, STATE_TTL_S)
            if stats.devices:
                devices_key = self.rt.key("gw", "dev", f"{{{code_id}}}")
                await self.rt.redis.sadd(devices_key, *stats.devices)
                await self.rt.redis.expire(devices_key, STATE_TTL_S)
        except REDIS_DOWN_ERRORS as exc:
            self.rt.redis_health.record_failure(exc)
        log.info("gateway.scan.redis_repaired", code_id=code_id, count=stats.count)

    async def _forget_first_claim(self, code_id: int, device: str, now: datetime) -> None:
        """Undo this scan's first-scan claim in Redis: the scan was not recorded (the client
        got a 503), so its retry must still find the code unscanned."""
        keys = [
            self.rt.key("gw", "code", f"{{{code_id}}}"),
            self.rt.key("gw", "dev", f"{{{code_id}}}"),
        ]
        try:
            await self.rt.redis.eval(FORGET_SCRIPT, 2, *keys, int(now.timestamp() * 1000), device)
        except REDIS_DOWN_ERRORS as exc:
            self.rt.redis_health.record_failure(exc)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


def _from_ms(value: str) -> datetime | None:
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC) if value else None
