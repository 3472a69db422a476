"""Claims: points for the first genuine claim of a code, fraud holds, the review queue.

A claim is accepted when the code verifies (MAC), is active, the database recorded its first
scan, and that first scan came from the claimer's device (covers both "genuine for this
device" and "already_scanned, unclaimed, claimed by the first scanner"). Products with a
scratch-off PIN also need the right PIN; wrong PINs are limited per consumer and per code
(Redis counters; the database counts when Redis is down — every failure is also stored).

Exactly once: the claim row is inserted first; its unique ``code_id`` lets one transaction
win across all consumers and workers, the others get 409 ``already_claimed``. Then the
consumer's account is locked, the paying campaigns are picked (budgets taken atomically), the
fraud signals decide between credited and held (pending points + ``points.held`` event), and a
credited claim runs its prize draw — all in the request's transaction.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.codes import ScannedCode, ScannedCodes
from gateway.geo import GpsFix
from gateway.ports import UnitWhereabouts
from gateway.queries import DeviceScan, FirstScan, device_scan_of, first_scan_of
from kernel.audit import record_audit
from kernel.auth import Principal
from kernel.cache import REDIS_DOWN_ERRORS
from kernel.db import utcnow
from kernel.devices import DeviceHasher
from kernel.errors import Conflict, Forbidden, InvalidInput, NotFound, RateLimited
from kernel.geometry import haversine_m
from kernel.outbox import emit
from kernel.runtime import Runtime
from kernel.uow import session_scope
from loyalty.campaigns import pick_payers, refund_budget
from loyalty.identity import resolve_consumer
from loyalty.ledger import AVAILABLE, PENDING, lock_account, post
from loyalty.models import Claim, PinFailure, Premises
from loyalty.rewards import DrawResult, draw_for_claim

__all__ = ["ClaimOutcome", "ClaimRequest", "LoyaltyService"]

log = structlog.get_logger("loyalty.claims")


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    url: str
    device_id: str
    ip: str
    pin: str | None = None
    gps: GpsFix | None = None


@dataclass(frozen=True, slots=True)
class ClaimOutcome:
    claim: Claim
    draw: DrawResult | None


class LoyaltyService:
    """The claim path's long-lived collaborators (the gateway's code checks, channel control's
    unit whereabouts, the device hasher, Redis); one per process, on ``app.state.loyalty``."""

    def __init__(
        self,
        runtime: Runtime,
        codes: ScannedCodes,
        whereabouts: UnitWhereabouts,
    ) -> None:
        self.rt = runtime
        self.settings = runtime.settings
        self.codes = codes
        self.whereabouts = whereabouts
        self.devices = DeviceHasher(runtime.settings.auth.jwt_secret)

    # -------------------------------------------------------------------------------- claim
    async def claim(
        self, session: AsyncSession, consumer_id: uuid.UUID, request: ClaimRequest
    ) -> ClaimOutcome:
        """Claim the points of one code for the consumer ``consumer_id`` names (see the
        module docstring).

        A request never holds a pooled connection while it waits for another (under load
        that deadlocks the pool): the roll metadata (which may load through its own
        session) comes before this session's first statement, and the PIN bookkeeping
        (its own sessions) after this session has given its connection back.
        """
        code = await self.codes.genuine(request.url)
        meta, state, code_id = code.meta, code.state, code.code_id
        if state.status != "active":
            raise Conflict(f"this code is {state.status}", code="code_not_active", field="url")
        device = self.devices.hash(request.device_id)
        consumer = await resolve_consumer(session, consumer_id)
        consumer_id = consumer.id  # merged consumers claim for the one that took them over
        first = await self._first_scan_by(session, code_id, device)
        if meta.product.pin_length:
            await session.rollback()  # only reads so far: hand the connection back
            await self._check_pin(consumer_id, code, request.pin, meta.product.pin_length)
        scan = await device_scan_of(session, code_id, device)
        now = utcnow()
        group_key = await self._group_of(session, meta.brand_id, code_id, scan)
        if group_key is None:
            group_key = f"batch:{state.batch.id}" if state.batch else f"roll:{meta.roll_id}"
        claim = Claim(
            code_id=code_id,
            brand_id=meta.brand_id,
            consumer_id=consumer_id,
            product_id=meta.product.id,
            roll_id=meta.roll_id,
            group_key=group_key,
            campaign_id=None,
            bonus_campaign_id=None,
            base_points=0,
            bonus_points=0,
            status="credited",
            hold_reasons=[],
            device_hash=device,
            ip=request.ip,
            region=scan.region if scan else first.region,
            scan_uid=scan.scan_uid if scan else first.scan_uid,
            created_at=now,
        )
        session.add(claim)
        try:
            await session.flush()  # the unique code_id: one claim wins, everywhere
        except IntegrityError as exc:  # the request's transaction rolls back with the error
            raise Conflict(
                "this code's points were already claimed", code="already_claimed", field="url"
            ) from exc
        await lock_account(session, consumer_id, meta.brand_id)
        return await self._pay(session, claim, scan, first, request.gps, now)

    async def _first_scan_by(self, session: AsyncSession, code_id: int, device: str) -> FirstScan:
        """The code's first scan, which must exist and come from the claimer's ``device``."""
        first = await first_scan_of(session, code_id)
        if first is None:
            raise Conflict("scan the code before claiming it", code="not_scanned", field="url")
        if first.device_hash != device:
            raise Forbidden(
                "only the device that scanned this code first can claim it",
                code="not_first_scanner",
                field="device_id",
            )
        return first

    async def _pay(
        self,
        session: AsyncSession,
        claim: Claim,
        scan: DeviceScan | None,
        first: FirstScan,
        gps: GpsFix | None,
        now: datetime,
    ) -> ClaimOutcome:
        """Pick the paying campaigns, then hold the points (fraud signals) or credit them and
        run the prize draw."""
        # Reads first; the campaign budget UPDATE (a row every claim of the campaign may
        # want) comes as late as possible, so its lock is held only until the commit.
        reasons = await self._fraud_signals(session, claim, scan, gps, now)
        payers = await pick_payers(
            session,
            brand_id=claim.brand_id,
            product_id=claim.product_id,
            consumer_id=claim.consumer_id,
            country=scan.country if scan else first.country,
            region=claim.region,
            now=now,
        )
        if payers is None:
            raise Conflict(
                "no campaign pays points for this code now", code="no_campaign", field="url"
            )
        claim.campaign_id = payers.campaign.id
        claim.bonus_campaign_id = payers.bonus.id if payers.bonus else None
        claim.base_points = payers.base_points
        claim.bonus_points = payers.bonus_points
        claim.hold_reasons = reasons
        if reasons:
            claim.status = "held"
            await self._post_points(session, claim, PENDING, now)
            _emit_claim_event(session, claim, "points.held", reasons=reasons)
            log.info("loyalty.claim.held", claim_id=str(claim.id), reasons=reasons)
            await session.flush()
            return ClaimOutcome(claim, None)
        await self._credit(session, claim, now)
        await session.flush()
        return ClaimOutcome(claim, await draw_for_claim(session, claim))

    async def _credit(self, session: AsyncSession, claim: Claim, now: datetime) -> None:
        await self._post_points(session, claim, AVAILABLE, now)
        # In the outbox too: the analytics stream carries every credited claim (streaming.md).
        _emit_claim_event(session, claim, "points.credited", product_id=str(claim.product_id))

    async def _post_points(
        self, session: AsyncSession, claim: Claim, bucket: str, now: datetime
    ) -> None:
        """A claim's points: credited (with their expiry date) or held in pending."""
        ttl = self.settings.loyalty.points_ttl_days
        credit = bucket == AVAILABLE
        await post(
            session,
            consumer_id=claim.consumer_id,
            brand_id=claim.brand_id,
            delta=claim.points,
            reason="claim" if credit else "hold",
            ref_type="code" if credit else "claim",
            ref_id=claim.code_id if credit else claim.id,
            idem_key=f"{'credit' if credit else 'claim'}:{claim.id}",
            bucket=bucket,
            campaign_id=claim.campaign_id,
            expires_at=now + timedelta(days=ttl) if credit and ttl > 0 else None,
        )

    # ------------------------------------------------------------------------------- fraud
    async def _fraud_signals(
        self,
        session: AsyncSession,
        claim: Claim,
        scan: DeviceScan | None,
        gps: GpsFix | None,
        now: datetime,
    ) -> list[str]:
        s = self.settings.loyalty
        since = now - timedelta(seconds=s.fraud_window_s)
        reasons: list[str] = []
        if scan is not None and (scan.code_suspicious or scan.verdict == "suspicious"):
            reasons.append("suspicious_code")
        same_group = and_(
            Claim.consumer_id == claim.consumer_id, Claim.group_key == claim.group_key
        )
        same_ip, same_device = Claim.ip == claim.ip, Claim.device_hash == claim.device_hash
        counts = (
            await session.execute(  # one round trip for the three counts (indexed each)
                select(
                    func.coalesce(func.sum(case((same_group, 1), else_=0)), 0),
                    func.coalesce(func.sum(case((same_ip, 1), else_=0)), 0),
                    func.coalesce(func.sum(case((same_device, 1), else_=0)), 0),
                ).where(
                    Claim.created_at >= since,
                    Claim.id != claim.id,
                    or_(same_group, same_ip, same_device),
                )
            )
        ).one()
        for count, limit, reason in zip(
            counts,
            (s.fraud_group_max_claims, s.fraud_ip_max_claims, s.fraud_device_max_claims),
            ("case_harvest", "ip_burst", "device_burst"),
            strict=True,
        ):
            if int(count) >= limit:
                reasons.append(reason)
        position = gps or (
            GpsFix(scan.lat, scan.lon, scan.accuracy_m)
            if scan is not None
            and scan.location_source == "gps"
            and scan.lat is not None
            and scan.lon is not None
            else None
        )
        if position is not None and await self._at_premises(session, claim.brand_id, position):
            reasons.append("at_distributor_premises")
        return reasons

    async def _group_of(
        self, session: AsyncSession, brand_id: uuid.UUID, code_id: int, scan: DeviceScan | None
    ) -> str | None:
        """The case the unit is packed in (channel control's aggregation), else the shipment
        it travelled in; None when channel control knows neither (then batch or roll)."""
        holder = await self.whereabouts.holder_of(session, brand_id, code_id)
        if holder.case_id is not None:
            return f"case:{holder.case_id}"
        if holder.shipment_id is not None:
            return f"shipment:{holder.shipment_id}"
        if scan is not None and scan.shipment_id is not None:
            return f"shipment:{scan.shipment_id}"
        return None

    async def _at_premises(self, session: AsyncSession, brand_id: uuid.UUID, gps: GpsFix) -> bool:
        sites = (
            await session.execute(select(Premises).where(Premises.brand_id == brand_id))
        ).scalars()
        return any(
            haversine_m(gps.lat, gps.lon, site.lat, site.lon) <= site.radius_m for site in sites
        )

    # --------------------------------------------------------------------------------- PINs
    async def _pin_keys(self, consumer_id: uuid.UUID, code_id: int) -> tuple[str, str]:
        # Scoped to the database (its install id): code ids repeat in a new database.
        await self.rt.load_install_id()
        window = int(time.time() // self.settings.loyalty.pin_failure_window_s)
        return (
            self.rt.scoped_key("loyalty", "pin", "consumer", consumer_id, window),
            self.rt.scoped_key("loyalty", "pin", "code", code_id, window),
        )

    async def _check_pin(
        self, consumer_id: uuid.UUID, code: ScannedCode, pin: str | None, length: int
    ) -> None:
        await self._pin_limit(consumer_id, code.code_id)
        if pin is None:
            raise InvalidInput(
                "this product needs the scratch-off PIN", code="pin_required", field="pin"
            )
        if self.codes.pin_matches(code.kid, code.index, pin, length):
            return
        await self._pin_failed(consumer_id, code.code_id)
        raise InvalidInput("wrong PIN", code="wrong_pin", field="pin")

    async def _pin_limit(self, consumer_id: uuid.UUID, code_id: int) -> None:
        s = self.settings.loyalty
        limits = (s.pin_failures_per_consumer, s.pin_failures_per_code)
        health = self.rt.redis_health
        if health.available:
            keys = await self._pin_keys(consumer_id, code_id)
            try:
                counts = await self.rt.redis.mget(keys)
                health.record_success()
            except REDIS_DOWN_ERRORS as exc:
                health.record_failure(exc)
            else:
                for raw, limit, key in zip(counts, limits, keys, strict=True):
                    if raw is not None and int(raw) >= limit:
                        ttl = await self.rt.redis.ttl(key)
                        raise RateLimited(
                            "too many wrong PINs; try again later",
                            retry_after=max(1, int(ttl)),
                            code="pin_attempts_exceeded",
                        )
                return
        # Redis is down: the stored failures decide (sliding window).
        since = utcnow() - timedelta(seconds=s.pin_failure_window_s)
        async with self.rt.session_factory() as session:
            for column, value, limit in (
                (PinFailure.consumer_id, consumer_id, limits[0]),
                (PinFailure.code_id, code_id, limits[1]),
            ):
                row = (
                    await session.execute(
                        select(func.count(), func.min(PinFailure.at)).where(
                            column == value, PinFailure.at >= since
                        )
                    )
                ).one()
                if int(row[0]) >= limit:
                    oldest: datetime = row[1]
                    age = (
                        utcnow().replace(tzinfo=None) - oldest.replace(tzinfo=None)
                    ).total_seconds()
                    raise RateLimited(
                        "too many wrong PINs; try again later",
                        retry_after=max(1, int(s.pin_failure_window_s - age)),
                        code="pin_attempts_exceeded",
                    )

    async def _pin_failed(self, consumer_id: uuid.UUID, code_id: int) -> None:
        # Committed on its own: the claim's transaction rolls back with the error.
        async with session_scope(self.rt.session_factory) as session:
            session.add(PinFailure(consumer_id=consumer_id, code_id=code_id, at=utcnow()))
        health = self.rt.redis_health
        if not health.available:
            return
        try:
            async with self.rt.redis.pipeline(transaction=True) as pipe:
                for key in await self._pin_keys(consumer_id, code_id):
                    pipe.incr(key)
                    pipe.expire(key, self.settings.loyalty.pin_failure_window_s)
                await pipe.execute()
            health.record_success()
        except REDIS_DOWN_ERRORS as exc:
            health.record_failure(exc)

    # ------------------------------------------------------------------------------ review
    async def release(
        self,
        session: AsyncSession,
        actor: Principal,
        brand_id: uuid.UUID,
        claim_id: uuid.UUID,
        note: str | None,
    ) -> ClaimOutcome:
        """Credit a held claim (exactly once) and run its draw."""
        claim = await self._settle(session, actor, brand_id, claim_id, "release", note)
        await self._credit(session, claim, utcnow())
        return ClaimOutcome(claim, await draw_for_claim(session, claim))

    async def reject(
        self,
        session: AsyncSession,
        actor: Principal,
        brand_id: uuid.UUID,
        claim_id: uuid.UUID,
        note: str | None,
    ) -> ClaimOutcome:
        """Drop a held claim's pending points and give the campaigns their budget back."""
        claim = await self._settle(session, actor, brand_id, claim_id, "reject", note)
        if claim.campaign_id is not None:
            await refund_budget(session, claim.campaign_id, claim.base_points)
        if claim.bonus_campaign_id is not None:
            await refund_budget(session, claim.bonus_campaign_id, claim.bonus_points)
        return ClaimOutcome(claim, None)

    async def _settle(
        self,
        session: AsyncSession,
        actor: Principal,
        brand_id: uuid.UUID,
        claim_id: uuid.UUID,
        action: str,
        note: str | None,
    ) -> Claim:
        """Take a held claim out of the queue (exactly once) and its points out of pending."""
        status = "credited" if action == "release" else "rejected"
        claim = await self._take_held(session, brand_id, claim_id, status, actor)
        await lock_account(session, claim.consumer_id, brand_id)
        await post(
            session,
            consumer_id=claim.consumer_id,
            brand_id=brand_id,
            delta=-claim.points,
            reason=action,
            ref_type="claim",
            ref_id=claim.id,
            idem_key=f"{action}:{claim.id}",
            bucket=PENDING,
            campaign_id=claim.campaign_id,
        )
        record_audit(
            session,
            actor,
            f"loyalty.claim.{action}",
            target_type="claim",
            target_id=claim.id,
            brand_id=brand_id,
            details={"points": claim.points, "note": note},
        )
        return claim

    async def _take_held(
        self,
        session: AsyncSession,
        brand_id: uuid.UUID,
        claim_id: uuid.UUID,
        status: str,
        actor: Principal,
    ) -> Claim:
        result = await session.execute(
            update(Claim)
            .where(Claim.id == claim_id, Claim.brand_id == brand_id, Claim.status == "held")
            .values(status=status, reviewed_at=utcnow(), reviewed_by=actor.subject)
            .execution_options(synchronize_session=False)
        )
        claim = await session.get(Claim, claim_id, populate_existing=True)
        if claim is None or claim.brand_id != brand_id:
            raise NotFound("claim not found", code="claim_not_found")
        if getattr(result, "rowcount", 0) != 1:
            raise Conflict(f"this claim is {claim.status}, not held", code="not_held")
        return claim


def _emit_claim_event(
    session: AsyncSession, claim: Claim, event_type: str, **extra: object
) -> None:
    """``points.held`` / ``points.credited`` in the claim's transaction."""
    emit(
        session,
        brand_id=claim.brand_id,
        event_type=event_type,
        subject_type="claim",
        subject_id=claim.id,
        payload={
            "claim_id": str(claim.id),
            "consumer_id": str(claim.consumer_id),
            "code_id": claim.code_id,
            "points": claim.points,
            **extra,
        },
    )
