"""Destination resolution benchmark: a 10-level chain of 100,000-unit shipments. Not a test.

Run::

    python -m loadtests.bench_destination [--backend embedded|postgres] [--n N]

Builds a brand with one 100,000-code roll and 10 distributors in a scratch database
(SQLite file, or a scratch schema on ``SCANGUARD_BENCH_DATABASE_URL`` /
postgresql+asyncpg://postgres@127.0.0.1:5432/test), ships the roll range to the first
distributor and transfers it down the chain (10 shipments), then prints ``name: value``
lines: the median and p99 time of ``DestinationResolver.resolve`` for random units with a
cold cache (every call a miss: the indexed projection queries) and with a warm cache, and
the number of SQL statements one uncached resolution runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import secrets
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import event

from anticounterfeit.catalogue import services as catalogue
from anticounterfeit.codes import services as rolls
from anticounterfeit.codes.format import Keyring
from anticounterfeit.codes.metadata import CodeMetadataService
from channel_control.distributors import services
from channel_control.distributors.territory import Territory
from channel_control.logistics import shipments
from channel_control.logistics.destination import DestinationResolver
from channel_control.logistics.shipments import Actor, ShipmentRequest
from channel_control.logistics.units import RangeInput, UnitChecker
from kernel.db import create_engine
from kernel.migrate import upgrade
from kernel.runtime import Runtime
from kernel.settings import AuthSettings, LogSettings, Settings
from kernel.uow import session_scope

__all__ = ["main"]

UNITS = 100_000
LEVELS = 10
SHIPMENT_TABLES = re.compile(r"\b(shipments|shipment_lines)\b", re.IGNORECASE)
DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def _print(name: str, value: object) -> None:
    print(f"{name}: {value}", flush=True)


async def _seed(runtime: Runtime, keyring: Keyring) -> tuple[uuid.UUID, int, int]:
    """Brand, roll, chain; returns (brand id, kid, first index)."""
    metadata = CodeMetadataService(runtime)
    async with session_scope(runtime.session_factory) as session:
        brand, _ = await catalogue.create_brand(
            session,
            None,
            slug=f"bench-{secrets.token_hex(3)}",
            name="Bench",
            suspicious_distinct_devices=None,
            keyring=(1,),  # the only key of these settings
        )
        product = await catalogue.create_product(
            session, None, brand.id, gtin="09506000134352", name="Bench product"
        )
        roll = (
            await rolls.issue_roll(
                session,
                keyring,
                None,
                brand.id,
                rolls.IssueRequest(count=UNITS, product_id=product.id, activate=True),
            )
        ).roll
        chain = [
            await services.create_distributor(
                session,
                None,
                brand.id,
                code=f"L{level}",
                name=f"Level {level}",
                level="regional",
                parent_id=None,
                contact={},
                territory=Territory(regions=frozenset({f"CN-{chr(65 + level)}"})),
            )
            for level in range(LEVELS)
        ]
    checker = UnitChecker(keyring, metadata, brand.id)
    everything = [RangeInput(roll.id, 0, UNITS)]
    previous = None
    for level, distributor in enumerate(chain):
        async with session_scope(runtime.session_factory) as session:
            await shipments.create_shipment(
                session,
                checker,
                ShipmentRequest(
                    document_number=f"DN-{level}",
                    kind="outbound" if previous is None else "transfer",
                    from_distributor_id=previous,
                    to_distributor_id=distributor.id,
                    codes=[],
                    ranges=everything,
                    containers=[],
                ),
                Actor(),
            )
        previous = distributor.id
    return brand.id, roll.kid, roll.first_index


async def _measure(settings: Settings, n: int) -> None:
    keyring = Keyring.from_mapping(settings.auth.code_keyring)
    runtime = Runtime.create(settings)
    try:
        brand_id, kid, first = await _seed(runtime, keyring)
        resolver = DestinationResolver(runtime, ttl_s=3600, max_entries=1_000_000)
        statements: list[str] = []

        def count(_c: object, _cur: object, statement: str, *_: object) -> None:
            statements.append(statement)

        event.listen(runtime.engine.sync_engine, "before_cursor_execute", count)
        await resolver.resolve(brand_id, kid, first + 1)  # also learns the brand ships at all
        _print("statements_first_resolve_of_brand", len(statements))
        statements.clear()
        await resolver.resolve(brand_id, kid, first + 2)
        event.remove(runtime.engine.sync_engine, "before_cursor_execute", count)
        _print("statements_per_uncached_resolve", len(statements))
        _print("shipments_table_read", any(SHIPMENT_TABLES.search(s) for s in statements))

        rng = random.Random(7)
        cold: list[float] = []
        # Distinct units never resolved before: every call is a cache miss (as consumer
        # first scans are), with the brand's generation unchanged.
        for offset in rng.sample(range(3, UNITS), n):
            t0 = time.perf_counter()
            found = await resolver.resolve(brand_id, kid, first + offset)
            cold.append(time.perf_counter() - t0)
            assert found is not None
            assert found.distributor_name == f"Level {LEVELS - 1}"
        assert resolver.misses >= n
        warm_index = first + 4242
        await resolver.resolve(brand_id, kid, warm_index)
        warm: list[float] = []
        for _ in range(n):
            t0 = time.perf_counter()
            await resolver.resolve(brand_id, kid, warm_index)
            warm.append(time.perf_counter() - t0)
        for name, samples in (("uncached", cold), ("cached", warm)):
            samples.sort()
            _print(f"{name}_median_us", round(statistics.median(samples) * 1e6, 1))
            _print(f"{name}_p99_us", round(samples[int(len(samples) * 0.99) - 1] * 1e6, 1))
    finally:
        await runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("embedded", "postgres"), default="embedded")
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    base = Settings(
        env="test",
        auth=AuthSettings(
            jwt_secret=secrets.token_bytes(32), code_keyring={1: secrets.token_bytes(32)}
        ),
        log=LogSettings(level="WARNING"),
    )
    _print("backend", args.backend)
    _print("chain_levels", LEVELS)
    _print("units_per_shipment", UNITS)
    if args.backend == "embedded":
        with tempfile.TemporaryDirectory() as tmp:
            settings = base.with_overrides(
                database={"url": f"sqlite+aiosqlite:///{Path(tmp) / 'b.db'}"}
            )
            upgrade(settings)
            asyncio.run(_measure(settings, args.n))
        return
    url = os.environ.get("SCANGUARD_BENCH_DATABASE_URL", DEFAULT_PG)
    schema = f"sgbench_{uuid.uuid4().hex[:8]}"

    async def execute(sql: str) -> None:
        engine = create_engine(base.with_overrides(database={"url": url}))
        try:
            async with engine.begin() as conn:
                await conn.exec_driver_sql(sql)
        finally:
            await engine.dispose()

    asyncio.run(execute(f'CREATE SCHEMA "{schema}"'))
    try:
        settings = base.with_overrides(database={"url": url, "search_path": schema})
        upgrade(settings)
        asyncio.run(_measure(settings, args.n))
    finally:
        asyncio.run(execute(f'DROP SCHEMA "{schema}" CASCADE'))


if __name__ == "__main__":
    main()
