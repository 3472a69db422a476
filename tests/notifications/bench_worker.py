"""Worker throughput against a local receiver: ``python -m tests.notifications.bench_worker``.

Emits N events for one brand with S webhook subscriptions, then times the worker (discover,
fan out, deliver) until every delivery is recorded. Embedded SQLite by default; ``--postgres``
uses a scratch schema in the test PostgreSQL (dropped afterwards).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from admin_api.notifications import services
from admin_api.notifications.models import NotificationDelivery
from admin_api.notifications.worker import NotificationWorker
from anticounterfeit.catalogue import services as catalogue
from kernel.migrate import upgrade
from kernel.outbox import OutboxEvent, emit
from kernel.runtime import Runtime
from kernel.settings import Settings
from kernel.uow import session_scope
from tests.support.webhook_receiver import WebhookReceiver

PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


SECRET = "whsec_bench"


@dataclass(frozen=True)
class _Consumer:
    key: str
    device_hash: str | None
    wechat_openid: str | None


class SyntheticAudience:
    """``n`` consumers generated page by page (keys ``c:000000123``): what a recall of a
    widely sold product looks like to the worker, without scanning a million codes first."""

    def __init__(self, n: int) -> None:
        self.n = n

    async def distributor_page(
        self, session: AsyncSession, event: OutboxEvent, *, after: str | None, limit: int
    ) -> list[uuid.UUID]:
        return []

    async def consumer_page(
        self, session: AsyncSession, event: OutboxEvent, *, after: str | None, limit: int
    ) -> list[_Consumer]:
        start = int(after[2:]) + 1 if after else 0
        return [
            _Consumer(f"c:{i:09d}", f"{i:032x}", None)
            for i in range(start, min(self.n, start + limit))
        ]


async def bench_audience(settings: Settings, consumers: int) -> None:
    """Fan one recall-like event out to ``consumers`` in-app inboxes; time and peak memory."""
    runtime = Runtime.create(settings)
    try:
        async with session_scope(runtime.session_factory) as session:
            brand, _ = await catalogue.create_brand(
                session,
                None,
                slug=f"bench-{uuid.uuid4().hex[:8]}",
                name="Bench",
                suspicious_distinct_devices=None,
                keyring=settings.auth.code_keyring.keys(),
            )
            emit(
                session,
                brand_id=brand.id,
                event_type="bench.recall",
                subject_type="bench",
                subject_id=1,
                payload={"recall_id": str(uuid.uuid4()), "reason": "bench"},
            )
        worker = NotificationWorker(runtime, audiences={"bench.": SyntheticAudience(consumers)})
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        while await worker.discover() or await worker.fan_out():
            pass
        elapsed = time.perf_counter() - started
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        await worker.close()
        backend = "postgresql" if not settings.database.is_sqlite else "sqlite"
        print(
            f"{backend}: one event to {consumers} consumer inboxes in {elapsed:.2f} s "
            f"({consumers / elapsed:.0f} entries/s); max RSS {rss_before / 1024:.0f} -> "
            f"{rss_after / 1024:.0f} MiB"
        )
    finally:
        await runtime.close()


async def serve_receiver(port: int, hooks: int) -> None:
    """The receiver in its own process (the worker's CPU is then the worker's alone)."""
    rx = WebhookReceiver(port=port)
    for i in range(hooks):
        rx.set_secret(f"s{i}", SECRET)
    async with rx:
        await asyncio.Event().wait()  # until the benchmark terminates this process


async def bench(settings: Settings, events: int, subscriptions: int, concurrency: int) -> None:
    runtime = Runtime.create(settings)
    rx = WebhookReceiver()  # only its URLs: it runs in a child process
    child = subprocess.Popen(  # noqa: ASYNC220 - a server for the whole benchmark
        [
            sys.executable,
            "-m",
            "tests.notifications.bench_worker",
            "--serve-receiver",
            str(rx.port),
            "--subscriptions",
            str(subscriptions),
        ]
    )
    try:
        async with httpx.AsyncClient() as probe:
            for _ in range(200):
                try:
                    await probe.post(rx.url("probe"), content=b"{}")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            async with session_scope(runtime.session_factory) as session:
                brand, _ = await catalogue.create_brand(
                    session,
                    None,
                    slug=f"bench-{uuid.uuid4().hex[:8]}",
                    name="Bench",
                    suspicious_distinct_devices=None,
                    keyring=settings.auth.code_keyring.keys(),
                )
                policy = services.WebhookPolicy.from_settings(settings)
                for i in range(subscriptions):
                    sub, _ = await services.create_subscription(
                        session,
                        None,
                        brand.id,
                        url=rx.url(f"s{i}"),
                        event_types=["*"],
                        policy=policy,
                    )
                    sub.secret = policy.box.encrypt(SECRET)
            async with session_scope(runtime.session_factory) as session:
                for i in range(events):
                    emit(
                        session,
                        brand_id=brand.id,
                        event_type="recall.updated",
                        subject_type="bench",
                        subject_id=i,
                        payload={"n": i, "text": "x" * 200},
                    )
            worker = NotificationWorker(runtime, concurrency=concurrency, batch_size=200)
            started = time.perf_counter()
            while await worker.discover() or await worker.fan_out():
                pass
            fanned = time.perf_counter()
            while await worker.deliver_due():
                pass
            done = time.perf_counter()
            await worker.close()
            async with session_scope(runtime.session_factory) as session:
                delivered = await session.scalar(
                    select(func.count()).where(NotificationDelivery.status == "delivered")
                )
            total = events * subscriptions
            assert delivered == total, (delivered, total)
            print("worker counters:", worker.snapshot())
            backend = "postgresql" if not settings.database.is_sqlite else "sqlite"
            print(
                f"{backend}: {events} events x {subscriptions} subscriptions = {total} deliveries; "
                f"fan-out {fanned - started:.2f} s ({events / (fanned - started):.0f} events/s), "
                f"delivery {done - fanned:.2f} s ({total / (done - fanned):.0f} deliveries/s, "
                f"concurrency {concurrency})"
            )
    finally:
        child.terminate()
        child.wait()
        await runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--subscriptions", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--consumers", type=int, default=0, help="fan one event out to N inboxes")
    parser.add_argument("--serve-receiver", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_receiver:
        asyncio.run(serve_receiver(args.serve_receiver, args.subscriptions))
        return
    base = Settings(
        env="test",
        auth={"jwt_secret": secrets.token_bytes(32), "code_keyring": {1: secrets.token_bytes(32)}},
        log={"level": "WARNING"},
        notifications={"webhook_allowed_networks": "127.0.0.1/32"},  # the bench's receiver
    )
    with tempfile.TemporaryDirectory() as tmp:
        if args.postgres:
            schema = f"sgbench_{uuid.uuid4().hex[:8]}"
            dsn = PG_URL.replace("+asyncpg", "")

            async def sql(statement: str) -> None:
                conn = await asyncpg.connect(dsn)
                try:
                    await conn.execute(statement)
                finally:
                    await conn.close()

            asyncio.run(sql(f'CREATE SCHEMA "{schema}"'))
            settings = base.with_overrides(database={"url": PG_URL, "search_path": schema})
        else:
            schema = ""
            settings = base.with_overrides(
                var_dir=Path(tmp), database={"url": f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"}
            )
        try:
            upgrade(settings)
            if args.consumers:
                asyncio.run(bench_audience(settings, args.consumers))
            else:
                asyncio.run(bench(settings, args.events, args.subscriptions, args.concurrency))
        finally:
            if schema:
                asyncio.run(sql(f'DROP SCHEMA "{schema}" CASCADE'))


if __name__ == "__main__":
    main()
