"""The scan hot path.

    parse → MAC check (memory) → roll metadata (memory / Redis / DB) → one Redis round trip
    (rate limits, first-scan claim, counters, distinct devices: ``gateway.hotstate``) →
    channel check (``gateway.ports``) → group-committed scan log (the database confirms the
    first scan) → verdict.

A forged code stops after the MAC check with no I/O. Redis is a fast path, never the truth:
when it is down (circuit open) or has lost a code's state, the database answers
(``gateway.fallback``).
"""

from __future__ import annotations

import gc
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from anticounterfeit.codes.format import Keyring, verify_code
from anticounterfeit.codes.identity import code_id_of
from anticounterfeit.codes.metadata import (
    BatchFacts,
    CodeMetadataService,
    CodeState,
    ProductFacts,
    RecallFacts,
    RollMetadata,
)
from anticounterfeit.gs1.digital_link import DigitalLink
from gateway.counterfeits import CounterfeitRecorder, journal_dir_for
from gateway.fallback import ScanStats, first_scan_exists, stats_from_db, travel_from_db
from gateway.geo import GpsFix, Locator, ScanLocation
from gateway.hotstate import SCAN_SCRIPT, STATE_TTL_S, WINDOW_S, HotAnswer, HotState
from gateway.ports import ChannelPort, NullChannel
from gateway.scanlog import ScanLogWriter, ScanRecord
from kernel.db import utcnow
from kernel.devices import DeviceHasher
from kernel.errors import ServiceUnavailable
from kernel.runtime import Runtime

# SCAN_SCRIPT, STATE_TTL_S, WINDOW_S: re-exported for loadtests.bare_apps
__all__ = [
    "SCAN_SCRIPT",
    "STATE_TTL_S",
    "WINDOW_S",
    "ScanContext",
    "ScanOutcome",
    "ScanService",
    "ScanStats",
]

log = structlog.get_logger("gateway.scan")


@dataclass(frozen=True, slots=True)
class ScanContext:
    """Who scanned and how: everything the hot path needs besides the code itself."""

    ip: str
    device_id: str
    channel: str  # json | html
    user_agent: str | None = None
    gps: GpsFix | None = None


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
        channel: ChannelPort | None = None,
    ) -> None:
        self.rt = runtime
        # diversion checks; None when off (SCANGUARD_CHANNEL_CHECKS=0: ports.NULL_CHANNEL)
        self.channel = None if channel is None or isinstance(channel, NullChannel) else channel
        self.settings = runtime.settings
        self.keyring = keyring
        self.metadata = metadata
        self.locator = locator or Locator(runtime.settings.gateway.geoip_database)
        self.hot = HotState(runtime)
        self.scanlog = ScanLogWriter(
            runtime.engine,
            flush_interval_s=self.settings.gateway.scanlog_flush_interval_s,
            max_batch=self.settings.gateway.scanlog_max_batch,
        )
        self.counterfeits = CounterfeitRecorder(
            runtime.session_factory,
            per_ip_per_minute=self.settings.gateway.counterfeit_ip_per_minute,
            journal_dir=journal_dir_for(self.settings),
        )
        self._devices = DeviceHasher(self.settings.auth.jwt_secret)

    async def start(self) -> None:
        await self.hot.start()
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
        return self._devices.hash(device_id)

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
        device = self._devices.hash(ctx.device_id)
        location = self.locator.locate(ctx.ip, ctx.gps)
        active = state.status == "active"
        now = utcnow()

        hot = await self.hot.step(self.settings, code_id, device, ctx.ip, now, active, location)
        reclaimed = False
        if hot is not None and self.hot.needs_confirmation(code_id, hot):
            hot, reclaimed = await self._confirm(code_id, hot, now, location.coarse_place)
        verdict = self._provisional_verdict(meta, state, hot)
        # Channel check: where should this unit be (cached), is the scan outside that territory?
        destination: Any | None = None
        diverted: bool | None = None
        if self.channel is not None and active:
            destination = await self.channel.resolve(meta.brand_id, decoded.kid, decoded.index)
            if destination is not None:
                diverted = self.channel.judge(destination, location)
        record = _record_of(
            ctx, meta, state, code_id, device, location, now, verdict, destination, diverted
        )
        try:
            await self.scanlog.record(record)
        except ServiceUnavailable:
            if hot is not None and hot.first == 1:
                await self.hot.forget_first_claim(code_id, device, now)
            raise
        verdict = record.verdict  # the log demotes a lost first claim (scanlog.lose_first_claim)
        if diverted is not None and destination is not None and self.channel is not None:
            self._observe(link, meta, state, record, location, destination, diverted)

        stats: ScanStats | None = None
        if active:
            if verdict == "genuine":  # the database confirmed this is the code's first scan
                stats = ScanStats(1, 1, now, location.coarse_place)
                if reclaimed:  # Redis's state of the code was dropped: write this first scan
                    fresh = ScanStats(1, 1, now, location.coarse_place, (device,))
                    await self.hot.repair(code_id, fresh, location.position, now)
            elif hot is not None and hot.first != 1:
                stats = ScanStats(
                    hot.scan_count,
                    hot.distinct_devices,
                    hot.first_scanned_at,
                    hot.first_place or None,
                )
            else:  # Redis is down, or it forgot this code (the database had a first scan)
                stats, verdict = await self._judge_from_db(meta, record, location, hot)
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

    async def _confirm(
        self, code_id: int, hot: HotAnswer, now: datetime, place: str | None
    ) -> tuple[HotAnswer, bool]:
        """Redis says "scanned before" at a time the database may have lost (a restored
        backup): believe it only if the database holds the first scan. Otherwise Redis's
        state of the code is dropped and this scan claims the first scan (True)."""
        if await first_scan_exists(self.rt.session_factory, code_id):
            self.hot.confirmed(code_id)
            return hot, False
        log.info("gateway.scan.redis_unconfirmed", code_id=code_id, redis_first_ms=hot.first_ms)
        await self.hot.discard(code_id)
        claim = HotAnswer(1, 1, 1, str(int(now.timestamp() * 1000)), place or "", 0)
        return claim, True

    def _provisional_verdict(
        self, meta: RollMetadata, state: CodeState, hot: HotAnswer | None
    ) -> str:
        """The verdict before the scan log has ruled on the first-scan claim."""
        if state.status != "active":
            return state.status  # inactive | void
        if hot is not None and hot.first != 1:
            return "suspicious" if hot.travel else self._repeat_verdict(meta, hot.distinct_devices)
        return "genuine"  # provisional: the scan log's first-scan claim decides

    def _observe(
        self,
        link: DigitalLink,
        meta: RollMetadata,
        state: CodeState,
        record: ScanRecord,
        location: ScanLocation,
        destination: Any,
        diverted: bool,
    ) -> None:
        """Tell channel control about a located scan of a shipped unit (buffered: written by
        the recorder's background task)."""
        assert self.channel is not None
        self.channel.observe(
            destination,
            location,
            diverted,
            brand_id=meta.brand_id,
            scan_uid=record.scan_uid,
            at=record.scanned_at,
            code_id=record.code_id,
            serial=link.serial or "",
            gtin=link.gtin,
            product_id=meta.product.id,
            product_name=meta.product.name,
            batch_id=state.batch.id if state.batch else None,
            lot=state.batch.lot if state.batch else None,
        )

    async def _judge_from_db(
        self,
        meta: RollMetadata,
        record: ScanRecord,
        location: ScanLocation,
        hot: HotAnswer | None,
    ) -> tuple[ScanStats, str]:
        """Stats and verdict of a repeat scan from the scan log (Redis down or forgetful);
        puts back what Redis forgot when it is up."""
        code_id, now = record.code_id, record.scanned_at
        stats = await stats_from_db(self.rt.session_factory, code_id)
        travel = await travel_from_db(
            self.rt.session_factory,
            self.locator,
            code_id,
            record.scan_uid,
            now,
            location,
            max_kmh=self.settings.channel.impossible_travel_kmh,
        )
        if hot is not None:
            await self.hot.repair(code_id, stats, location.position, now, travel)
        verdict = "suspicious" if travel else self._repeat_verdict(meta, stats.distinct_devices)
        return stats, verdict

    def _repeat_verdict(self, meta: RollMetadata, distinct_devices: int) -> str:
        limit = (
            meta.suspicious_distinct_devices or self.settings.gateway.suspicious_distinct_devices
        )
        return "suspicious" if distinct_devices > limit else "already_scanned"

    def _counterfeit(self, link: DigitalLink, ctx: ScanContext, reason: str) -> ScanOutcome:
        self.counterfeits.check_and_record(link.gtin, ctx.ip, reason)
        return ScanOutcome(verdict="counterfeit", gtin=link.gtin, serial=link.serial, reason=reason)


def _record_of(
    ctx: ScanContext,
    meta: RollMetadata,
    state: CodeState,
    code_id: int,
    device: str,
    location: ScanLocation,
    now: datetime,
    verdict: str,
    destination: Any | None,
    diverted: bool | None,
) -> ScanRecord:
    """The scan log's record of one answered scan."""
    return ScanRecord(
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
