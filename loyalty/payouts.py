"""The payout worker: queued cash payouts sent to the payment platform, rate-limited.

Protocol (modelled on WeChat Pay's merchant transfer): ``POST {payout_api_base_url}/v1/transfers``
with ``{"out_bill_no", "openid", "transfer_amount", "transfer_remark"}``. The platform is
idempotent by ``out_bill_no``: a retry after a timeout or a 5xx uses the *same* order number
(a new number could pay twice). 2xx → sent; 429, 5xx and transport errors → retried with
backoff; other 4xx → failed (kept for an operator).

Each payout is leased by one conditional ``UPDATE`` (status queued and due → attempts + 1,
due again after the lease), so several workers never send the same payout at once. Sends
start no faster than ``payout_rate_per_s`` (the platform allows tens per second).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.db import utcnow
from kernel.runtime import Runtime
from kernel.uow import session_scope
from loyalty.models import Payout

__all__ = ["PayoutRun", "PayoutWorker", "RateLimiter"]

log = structlog.get_logger("loyalty.payouts")

LEASE_S = 60
MAX_ATTEMPTS = 10
BACKOFF_BASE_S = 2.0
BACKOFF_MAX_S = 600.0
CONCURRENCY = 16


class RateLimiter:
    """Spaces call starts at least ``1 / rate`` seconds apart (no burst)."""

    def __init__(self, rate_per_s: float) -> None:
        self.interval = 1.0 / rate_per_s
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)


@dataclass
class PayoutRun:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    order_nos: list[str] = field(default_factory=list)


class PayoutWorker:
    """Sends due payouts; ``run_once`` is one pass (CLI / tests), ``run`` loops."""

    def __init__(self, runtime: Runtime, http: httpx.AsyncClient | None = None) -> None:
        settings = runtime.settings
        self.rt = runtime
        self.base_url = settings.loyalty.payout_api_base_url.rstrip("/")
        self.limiter = RateLimiter(settings.loyalty.payout_rate_per_s)
        self._http = http or httpx.AsyncClient(timeout=settings.loyalty.payout_timeout_s)
        self._owns_http = http is None

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def run(self, *, poll_s: float = 1.0) -> None:
        while True:
            result = await self.run_once()
            if not (result.sent or result.retried or result.failed):
                await asyncio.sleep(poll_s)

    async def run_once(self, *, limit: int = 1000) -> PayoutRun:
        """Send every due payout (up to ``limit``) once."""
        if not self.base_url:
            raise RuntimeError("payout_api_base_url is not set")
        async with self.rt.session_factory() as session:
            ids = (
                (
                    await session.execute(
                        select(Payout.id)
                        .where(Payout.status == "queued", Payout.next_attempt_at <= utcnow())
                        .order_by(Payout.created_at)
                        .limit(limit)
                    )
                )
                .scalars()
                .all()
            )
        run = PayoutRun()
        gate = asyncio.Semaphore(CONCURRENCY)
        tasks = []
        for payout_id in ids:
            leased = await self._lease(payout_id)
            if leased is None:
                continue
            await gate.acquire()
            await self.limiter.wait()
            tasks.append(asyncio.create_task(self._send(leased, run, gate)))
        await asyncio.gather(*tasks)
        return run

    async def _lease(self, payout_id: uuid.UUID) -> Payout | None:
        now = utcnow()
        async with session_scope(self.rt.session_factory) as session:
            result = await session.execute(
                update(Payout)
                .where(
                    Payout.id == payout_id,
                    Payout.status == "queued",
                    Payout.next_attempt_at <= now,
                )
                .values(
                    attempts=Payout.attempts + 1, next_attempt_at=now + timedelta(seconds=LEASE_S)
                )
                .execution_options(synchronize_session=False)
            )
            if getattr(result, "rowcount", 0) != 1:
                return None  # another worker has it
            return await session.get(Payout, payout_id)

    async def _send(self, payout: Payout, run: PayoutRun, gate: asyncio.Semaphore) -> None:
        try:
            outcome, error = await self._post(payout)
        finally:
            gate.release()
        async with session_scope(self.rt.session_factory) as session:
            await self._record(session, payout, outcome, error)
        if outcome == "sent":
            run.sent += 1
            run.order_nos.append(payout.order_no)
        elif outcome == "failed":
            run.failed += 1
        else:
            run.retried += 1

    async def _post(self, payout: Payout) -> tuple[str, str | None]:
        if not payout.openid:
            return "failed", "the consumer has no WeChat identity to pay"
        try:
            response = await self._http.post(
                f"{self.base_url}/v1/transfers",
                json={
                    "out_bill_no": payout.order_no,
                    "openid": payout.openid,
                    "transfer_amount": payout.amount_cents,
                    "transfer_remark": "scanguard reward",
                },
            )
        except httpx.HTTPError as exc:
            return "retry", f"{type(exc).__name__}"
        if 200 <= response.status_code < 300:
            return "sent", None
        text = response.text[:200]
        if response.status_code == 429 or response.status_code >= 500:
            return "retry", f"HTTP {response.status_code} {text}"
        return "failed", f"HTTP {response.status_code} {text}"

    async def _record(
        self, session: AsyncSession, payout: Payout, outcome: str, error: str | None
    ) -> None:
        values: dict[str, object] = {"last_error": error}
        if outcome == "sent":
            values.update(status="sent", sent_at=utcnow())
        elif outcome == "failed" or payout.attempts >= MAX_ATTEMPTS:
            values.update(status="failed")
        else:
            delay = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** (payout.attempts - 1))
            values.update(next_attempt_at=utcnow() + timedelta(seconds=delay))
        await session.execute(
            update(Payout)
            .where(Payout.id == payout.id, Payout.status == "queued")
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        log.info("loyalty.payout." + outcome, order_no=payout.order_no, error=error)
