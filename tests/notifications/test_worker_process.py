"""The real ``scanguard worker`` process: SIGKILL mid-batch loses and doubles nothing; SIGTERM
finishes what is in flight and exits.

Runs on both backends: PostgreSQL (SKIP LOCKED claims) and the embedded SQLite file (one
worker at a time, as documented). The receiver is slow so that the kill lands while posts are
in flight; it honours the idempotency key, so a re-sent event is acknowledged, not re-applied.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from admin_api.notifications.models import NotificationDelivery
from kernel.db import create_engine, create_session_factory
from kernel.secretbox import SecretBox
from kernel.settings import Settings
from tests.conftest import running_app
from tests.e2e.test_crash_durability import _server_env
from tests.factories.notifications import create_subscription, emit_event, wait_until
from tests.factories.tenancy import brand_admin
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.slow

EVENTS = 40


def _worker_env(settings: Settings) -> dict[str, str]:
    """The crash test's server environment plus quick polls, a short lease, small backoff."""
    env = _server_env(settings)
    env.update(
        SCANGUARD_OUTBOX_POLL_INTERVAL_S="0.05",
        SCANGUARD_WEBHOOK_TIMEOUT_S="1",  # lease = 2 s: a killed worker's claims return soon
        SCANGUARD_WEBHOOK_BACKOFF_BASE_S="0.05",
        SCANGUARD_WEBHOOK_BACKOFF_MAX_S="0.2",
        # The worker must open the secrets the test's app stored, and reach its receiver.
        SCANGUARD_SECRETS_KEY=",".join(SecretBox.from_settings(settings).keys),
        SCANGUARD_WEBHOOK_ALLOWED_NETWORKS=",".join(
            str(n) for n in settings.notifications.webhook_allowed_networks
        ),
    )
    return env


def _start_worker(settings: Settings, output: Path, *extra: str) -> subprocess.Popen[bytes]:
    """``scanguard worker`` in its own process; its output goes to ``output``."""
    command = [sys.executable, "-m", "admin_api.cli", "worker"]
    with output.open("ab") as sink:
        return subprocess.Popen(
            [*command, "--concurrency", "8", "--batch-size", "8", *extra],
            env=_worker_env(settings),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


async def _stopped(process: subprocess.Popen[bytes], timeout_s: float = 20.0) -> int:
    deadline = time.monotonic() + timeout_s
    while process.poll() is None:
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("worker did not stop")
        await asyncio.sleep(0.02)
    return process.returncode


async def _delivered_count(settings: Settings) -> int:
    engine = create_engine(settings, nullpool=True)
    try:
        async with create_session_factory(engine)() as session:
            count = await session.scalar(
                select(func.count()).where(NotificationDelivery.status == "delivered")
            )
    finally:
        await engine.dispose()
    return int(count or 0)


async def _prepare(settings: Settings, rx: WebhookReceiver) -> set[str]:
    """A subscription and EVENTS committed events; no worker runs in this app."""
    async with running_app(settings) as (app, client):
        brand, headers = await brand_admin(app, client)
        sub = await create_subscription(client, headers, rx.url("main"), ["recall.*"])
        rx.set_secret("main", sub["secret"])
        return {
            str(await emit_event(app, brand.id, "recall.updated", {"n": i})) for i in range(EVENTS)
        }


async def test_sigkill_mid_batch_loses_nothing_and_applies_nothing_twice(
    settings: Settings, tmp_path: Path
) -> None:
    async with WebhookReceiver(delay_s=0.25) as rx:
        keys = await _prepare(settings, rx)
        worker = _start_worker(settings, tmp_path / "worker.log")
        try:
            await wait_until(lambda: len(rx.processed()) >= 10, what="deliveries under way")
            worker.send_signal(signal.SIGKILL)  # no shutdown: posts in flight are abandoned
            assert await _stopped(worker) == -signal.SIGKILL
            posts_at_kill = len(rx.posts)
            # The posts the dead worker started still land (the receiver answers after delay_s).
            await wait_until(lambda: rx.in_flight == 0, what="posts in flight at the kill")
            assert len(rx.processed()) < EVENTS  # the kill really was mid-way

            worker = _start_worker(settings, tmp_path / "worker.log")
            await wait_until(
                lambda: len(rx.processed()) == EVENTS, timeout_s=60, what="every event applied"
            )

            async def all_recorded() -> bool:
                return await _delivered_count(settings) == EVENTS

            await wait_until(all_recorded, timeout_s=30, what="every delivery recorded")
        finally:
            if worker.poll() is None:
                worker.terminate()
            await _stopped(worker)
        assert rx.distinct_keys("main") == keys  # nothing lost
        assert all(n == 1 for n in rx.processed_keys.values())  # nothing applied twice
        resent = len(rx.posts) - EVENTS
        print(f"posts at kill {posts_at_kill}, total {len(rx.posts)}, re-sent {resent}")
        assert resent >= 0


async def test_sigterm_finishes_deliveries_in_flight_then_exits(
    settings: Settings, tmp_path: Path
) -> None:
    async with WebhookReceiver(delay_s=0.25) as rx:
        keys = await _prepare(settings, rx)
        worker = _start_worker(settings, tmp_path / "worker.log")
        try:
            await wait_until(lambda: len(rx.processed()) >= 5, what="deliveries under way")
            worker.send_signal(signal.SIGTERM)
            assert await _stopped(worker) == 0
            assert "worker stopped" in (tmp_path / "worker.log").read_text()
            # Everything the receiver applied before the exit was recorded as delivered.
            applied = len(rx.processed())
            assert applied < EVENTS
            assert await _delivered_count(settings) == applied

            worker = _start_worker(settings, tmp_path / "worker.log")
            await wait_until(lambda: len(rx.processed()) == EVENTS, timeout_s=60, what="the rest")
        finally:
            if worker.poll() is None:
                worker.terminate()
            await _stopped(worker)
        assert rx.distinct_keys("main") == keys
        assert len(rx.posts) == EVENTS  # a graceful stop re-sends nothing


# Services only: several workers are a PostgreSQL deployment; SQLite runs one.
@pytest.mark.parametrize("backend", ["services"])
async def test_two_workers_share_the_work_without_double_sends(
    settings: Settings, tmp_path: Path
) -> None:
    """PostgreSQL only: two ``scanguard worker`` processes claim with SKIP LOCKED; every event
    is posted exactly once in total (no kill, so no re-sends are expected)."""
    async with WebhookReceiver(delay_s=0.02) as rx:
        keys = await _prepare(settings, rx)
        workers = [_start_worker(settings, tmp_path / f"worker-{i}.log") for i in range(2)]
        try:
            await wait_until(lambda: len(rx.processed()) == EVENTS, timeout_s=60, what="all")

            async def all_recorded() -> bool:
                return await _delivered_count(settings) == EVENTS

            await wait_until(all_recorded, timeout_s=30, what="every delivery recorded")
            # One worker may have done everything while the other was still importing: a
            # SIGTERM before its handler exists would end it with -15, not a graceful 0.
            await wait_until(
                lambda: all(
                    "notifications.worker.started" in (tmp_path / f"worker-{i}.log").read_text()
                    for i in range(2)
                ),
                timeout_s=30,
                what="both workers started",
            )
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.send_signal(signal.SIGTERM)
            codes = [await _stopped(worker) for worker in workers]
        assert codes == [0, 0]
        assert rx.distinct_keys("main") == keys
        assert len(rx.posts) == EVENTS
        logs = [(tmp_path / f"worker-{i}.log").read_text() for i in range(2)]
        delivered = [int(log.split("'delivered': ")[1].split(",")[0]) for log in logs]
        assert sum(delivered) == EVENTS
        print(f"deliveries per worker: {delivered}")


async def test_worker_once_drains_and_exits(settings: Settings, tmp_path: Path) -> None:
    async with WebhookReceiver() as rx:
        keys = await _prepare(settings, rx)
        once = _start_worker(settings, tmp_path / "once.log", "--once")
        assert await _stopped(once, timeout_s=60) == 0
        assert rx.distinct_keys("main") == keys
        assert len(rx.posts) == EVENTS
        assert await _delivered_count(settings) == EVENTS
        assert f"'delivered': {EVENTS}" in (tmp_path / "once.log").read_text()
