"""The scan path's Redis state: one atomic script step per scan, and its repairs.

Redis is a fast path, never the truth (the scan log is): ``HotState.step`` returns None when
Redis is unavailable, and the caller then asks the database (``gateway.fallback``); the rate
limits are then counted in-process (``kernel.ratelimit``, this process's share of them).

Keys carry the database's install id (``Runtime.scoped_key``): another database next to the
same Redis never reads them. A restored backup keeps its install id but lost the scans made
after it, so a "scanned before" whose first scan the database cannot be assumed to hold (its
time after the database's latest durable scan at start-up, before this process started) is
checked against the database (``needs_confirmation``); every other answer costs no query.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, NamedTuple

import structlog

from gateway.fallback import ScanStats, first_scan_watermark
from gateway.geo import Position, ScanLocation
from kernel.cache import REDIS_DOWN_ERRORS
from kernel.errors import RateLimited
from kernel.ratelimit import LocalWindowLimiter, share_of
from kernel.runtime import Runtime
from kernel.settings import Settings

__all__ = [
    "FORGET_SCRIPT",
    "SCAN_SCRIPT",
    "STATE_TTL_S",
    "WINDOW_S",
    "HotAnswer",
    "HotState",
]

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
# A first scan this much older than the database's latest durable scan was durable too (a
# group commit lands within milliseconds, a failed one undoes its Redis claim).
WATERMARK_MARGIN_MS = 60_000
MAX_CONFIRMED = 100_000  # codes the database confirmed (in the unsure window); then forget all


class HotAnswer(NamedTuple):
    """The scan script's answer for a scan that was not rate limited."""

    first: int  # 1: this scan claimed the code's first scan in Redis; 0: not the first
    scan_count: int
    distinct_devices: int
    first_ms: str  # the first scan's time (epoch ms), '' when unknown
    first_place: str
    travel: int  # 1: impossible travel (now or before)

    @property
    def first_scanned_at(self) -> datetime | None:
        return datetime.fromtimestamp(int(self.first_ms) / 1000, tz=UTC) if self.first_ms else None


class HotState:
    """Runs the scan script and its repairs against the runtime's Redis."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self._script: Any = None
        self.local_limits = LocalWindowLimiter(WINDOW_S)
        # Redis first scans at or before ``_durable_ms`` are in the database; so are those
        # from ``_started_ms`` on (made against this database). Between: ask it (rare).
        self._durable_ms = 0
        self._started_ms = 0
        self._confirmed: set[int] = set()

    async def start(self) -> None:
        self._started_ms = int(time.time() * 1000)
        await self.rt.load_install_id()
        latest = await first_scan_watermark(self.rt.session_factory)
        if latest is not None:
            self._durable_ms = int(latest.timestamp() * 1000) - WATERMARK_MARGIN_MS
        self._script = self.rt.redis.register_script(SCAN_SCRIPT)

    def needs_confirmation(self, code_id: int, hot: HotAnswer) -> bool:
        """True when Redis says "scanned before" at a time the database may have lost (a
        backup restored since): the caller checks the database's first scan."""
        if hot.first == 1 or not hot.first_ms:
            return False
        first_ms = int(hot.first_ms)
        if first_ms <= self._durable_ms or first_ms >= self._started_ms:
            return False
        return code_id not in self._confirmed

    def confirmed(self, code_id: int) -> None:
        """The database holds this code's first scan: no need to ask again."""
        if len(self._confirmed) >= MAX_CONFIRMED:
            self._confirmed.clear()
        self._confirmed.add(code_id)

    async def discard(self, code_id: int) -> None:
        """Drop a code's state the database disowns (its first scan is not there)."""
        try:
            await self.rt.redis.delete(*self._code_keys(code_id))
        except REDIS_DOWN_ERRORS as exc:
            self.rt.redis_health.record_failure(exc)

    def _code_keys(self, code_id: int) -> list[str]:
        return [
            self.rt.scoped_key("gw", "code", f"{{{code_id}}}"),
            self.rt.scoped_key("gw", "dev", f"{{{code_id}}}"),
        ]

    def _limit_locally(self, settings: Settings, ip: str, device: str) -> None:
        """The scan limits while Redis is down: this process's share, counted in memory."""
        workers = settings.gateway.server_workers
        for what, key, limit in (
            ("address", f"ip:{ip}", settings.gateway.rate_limit_ip_per_minute),
            ("device", f"dev:{device}", settings.gateway.rate_limit_device_per_minute),
        ):
            retry_after = self.local_limits.hit(key, share_of(limit, workers))
            if retry_after is not None:
                raise RateLimited(
                    f"too many scans from this {what}; try again later", retry_after=retry_after
                )

    async def step(
        self,
        settings: Settings,
        code_id: int,
        device: str,
        ip: str,
        now: datetime,
        active: bool,
        location: ScanLocation,
    ) -> HotAnswer | None:
        """Run the scan script; None when Redis is unavailable (the caller uses the database).

        ``settings`` (the limits) come from the caller per call: the scan service's settings
        may be replaced while it runs."""
        place, position = location.coarse_place, location.position
        health = self.rt.redis_health
        if not health.available:
            self._limit_locally(settings, ip, device)
            return None
        window = int(time.time() // WINDOW_S)
        keys = [
            *self._code_keys(code_id),
            self.rt.key("gw", "rl", "ip", ip, window),
            self.rt.key("gw", "rl", "dev", device, window),
        ]
        args = [
            int(now.timestamp() * 1000),
            device,
            1 if active else 0,
            place or "",
            settings.gateway.rate_limit_ip_per_minute,
            settings.gateway.rate_limit_device_per_minute,
            WINDOW_S,
            STATE_TTL_S,
            *(
                (position.lat, position.lon, round(position.uncertainty_m))
                if position is not None
                else ("", "", "")
            ),
            settings.channel.impossible_travel_kmh,
        ]
        try:
            result = await self._script(keys=keys, args=args)
        except REDIS_DOWN_ERRORS as exc:
            health.record_failure(exc)
            self._limit_locally(settings, ip, device)
            return None
        health.record_success()
        status = int(result[0])
        if status < 0:
            retry_after = max(1, int(result[1]))
            what = "address" if status == -1 else "device"
            raise RateLimited(
                f"too many scans from this {what}; try again later", retry_after=retry_after
            )
        return HotAnswer(
            status,
            int(result[1]),
            int(result[2]),
            _text(result[3]),
            _text(result[4]),
            int(result[5]),
        )

    async def repair(
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
        key, devices_key = self._code_keys(code_id)
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
                await self.rt.redis.sadd(devices_key, *stats.devices)
                await self.rt.redis.expire(devices_key, STATE_TTL_S)
        except REDIS_DOWN_ERRORS as exc:
            self.rt.redis_health.record_failure(exc)
        log.info("gateway.scan.redis_repaired", code_id=code_id, count=stats.count)

    async def forget_first_claim(self, code_id: int, device: str, now: datetime) -> None:
        """Undo this scan's first-scan claim in Redis: the scan was not recorded (the client
        got a 503), so its retry must still find the code unscanned."""
        try:
            await self.rt.redis.eval(
                FORGET_SCRIPT, 2, *self._code_keys(code_id), int(now.timestamp() * 1000), device
            )
        except REDIS_DOWN_ERRORS as exc:
            self.rt.redis_health.record_failure(exc)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")
