"""Benchmark: forward trace of a material lot used by 100 batches, 10 million issued codes and
1 million consumer scans, on PostgreSQL (issue 6 §5: under one second).

    .venv/bin/python -m loadtests.bench_trace [--database-url URL] [--batches 100]
        [--codes 10000000] [--scans 1000000] [--runs 7] [--keep]

Builds a scratch schema with the real migrations, inserts the genealogy (one roll row per
batch: codes are never rows), bulk-loads the scans with COPY, runs ``VACUUM ANALYZE``, then
times the forward trace service (``anticounterfeit.trace.traces.forward_trace``: the whole work of
``GET /v1/admin/traces/forward`` but JSON encoding) and a recall's affected set over the same
lot. Prints each run and the median, plus the plan of the scan-count query (index-backed).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import asyncpg  # type: ignore[import-untyped]  # no type stubs; used for COPY only
import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from admin_api.app import create_app
from admin_api.trace_sources import TRACE_SOURCES
from anticounterfeit.codes.format import Keyring
from anticounterfeit.trace import recall_reports, recalls, traces
from anticounterfeit.trace.recalls import ScopeIn
from kernel import accounts
from kernel.auth import Role, TokenPurpose, encode_token
from kernel.db import create_engine, create_session_factory
from kernel.migrate import upgrade
from kernel.settings import AuthSettings, DatabaseSettings, Settings

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
KID = 7


def _settings(url: str, schema: str) -> Settings:
    return Settings(
        env="test",
        auth=AuthSettings(jwt_secret=b"b" * 32, code_keyring={KID: b"k" * 32}),
        database=DatabaseSettings(url=url, search_path=schema),
    )


async def _seed(
    dsn: str, schema: str, *, batches: int, codes: int, scans: int
) -> tuple[uuid.UUID, uuid.UUID]:
    """Returns (brand id, material lot id)."""
    conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
    try:
        now = datetime.now(UTC)
        brand, products, lot = await _seed_catalogue(conn, now, codes)
        per_roll = codes // batches
        roll_rows = await _seed_batches(conn, now, brand, products, lot, batches, per_roll)
        await _seed_scans(conn, now, brand, products, roll_rows, codes, scans, per_roll)
        for table in ("scans", "code_first_scans", "code_rolls", "batches", "batch_materials"):
            await conn.execute(f"VACUUM ANALYZE {table}")
        return brand, lot
    finally:
        await conn.close()


async def _seed_catalogue(
    conn: asyncpg.Connection, now: datetime, codes: int
) -> tuple[uuid.UUID, list[uuid.UUID], uuid.UUID]:
    """A brand with its code key, two products and a material lot."""
    brand = uuid.uuid4()
    await conn.execute(
        "INSERT INTO brands (id, slug, name, created_at) VALUES ($1, $2, $3, $4)",
        brand,
        f"bench-{brand.hex[:8]}",
        "Bench",
        now,
    )
    await conn.execute(
        "INSERT INTO brand_code_keys (kid, brand_id, active, next_index, created_at) "
        "VALUES ($1, $2, true, $3, $4)",
        KID,
        brand,
        codes,
        now,
    )
    products = [uuid.uuid4(), uuid.uuid4()]
    for i, product in enumerate(products):
        await conn.execute(
            "INSERT INTO products (id, brand_id, gtin, name, created_at, updated_at) "
            "VALUES ($1, $2, $3, $4, $5, $5)",
            product,
            brand,
            f"0950600013435{i}"[:13] + str(i),
            f"Product {i}",
            now,
        )
    lot = uuid.uuid4()
    await conn.execute(
        "INSERT INTO material_lots (id, brand_id, supplier, material, lot_number, "
        "received_date, created_at) VALUES ($1, $2, 'Acme', 'PET', 'PET-1', $3, $4)",
        lot,
        brand,
        date(2025, 1, 1),
        now,
    )
    return brand, products, lot


async def _seed_batches(
    conn: asyncpg.Connection,
    now: datetime,
    brand: uuid.UUID,
    products: list[uuid.UUID],
    lot: uuid.UUID,
    batches: int,
    per_roll: int,
) -> Sequence[tuple[object, ...]]:
    """``batches`` batches, each with an activated roll and a use of ``lot``; the roll rows."""
    batch_rows, roll_rows, event_rows, uses = [], [], [], []
    for b in range(batches):
        batch_id, roll_id = uuid.uuid4(), uuid.uuid4()
        product = products[b % 2]
        batch_rows.append(
            (
                batch_id,
                brand,
                product,
                f"L{b:05d}",
                date(2025, 1, 1) + timedelta(days=b),
                now,
                now,
            )
        )
        roll_rows.append((roll_id, brand, product, KID, b * per_roll, per_roll, batch_id, now))
        event_rows.append((roll_id, 0, per_roll, "activate", now))
        uses.append((brand, batch_id, lot, 10.0, "KGM", now))
    await conn.copy_records_to_table(
        "batches",
        records=batch_rows,
        columns=[
            "id",
            "brand_id",
            "product_id",
            "lot",
            "production_date",
            "created_at",
            "updated_at",
        ],
    )
    await conn.copy_records_to_table(
        "code_rolls",
        records=roll_rows,
        columns=[
            "id",
            "brand_id",
            "product_id",
            "kid",
            "first_index",
            "count",
            "batch_id",
            "created_at",
        ],
    )
    await conn.copy_records_to_table(
        "code_range_events",
        records=event_rows,
        columns=["roll_id", "seq_start", "seq_end", "action", "created_at"],
    )
    await conn.copy_records_to_table(
        "batch_materials",
        records=uses,
        columns=["brand_id", "batch_id", "material_lot_id", "quantity", "unit", "created_at"],
    )
    return roll_rows


async def _seed_scans(
    conn: asyncpg.Connection,
    now: datetime,
    brand: uuid.UUID,
    products: list[uuid.UUID],
    roll_rows: Sequence[tuple[object, ...]],
    codes: int,
    scans: int,
    per_roll: int,
) -> None:
    batches = len(roll_rows)
    # 1M scans: 80% first scans of distinct codes, 20% repeats of those.
    rng = random.Random(6)
    distinct = sorted(rng.sample(range(codes), int(scans * 0.8)))
    repeats = [rng.choice(distinct) for _ in range(scans - len(distinct))]
    roll_of = {b: roll_rows[b][0] for b in range(batches)}
    regions = ["CN-GD", "CN-BJ", "CN-SH", "CN-ZJ", None]

    def scan_row(index: int, first: bool) -> tuple[object, ...]:
        b = min(index // per_roll, batches - 1)
        return (
            uuid.uuid4(),
            now - timedelta(seconds=index % 86_400),
            (KID << 40) | index,
            brand,
            products[b % 2],
            roll_of[b],
            "genuine" if first else "already_scanned",
            f"{index % 50_000:032x}",
            "198.51.100.7",
            rng.choice(regions),
            "none",
            "json",
        )

    scan_records = [scan_row(i, True) for i in distinct] + [scan_row(i, False) for i in repeats]
    await conn.copy_records_to_table(
        "scans",
        records=scan_records,
        columns=[
            "scan_uid",
            "scanned_at",
            "code_id",
            "brand_id",
            "product_id",
            "roll_id",
            "verdict",
            "device_hash",
            "ip",
            "region",
            "location_source",
            "channel",
        ],
    )
    firsts = [(r[2], brand, r[0], r[1], r[7]) for r in scan_records[: len(distinct)]]
    await conn.copy_records_to_table(
        "code_first_scans",
        records=firsts,
        columns=["code_id", "brand_id", "scan_uid", "scanned_at", "device_hash"],
    )


async def _time(label: str, runs: int, fn: object) -> float:
    timings = []
    for i in range(runs):
        started = time.perf_counter()
        result = await fn()  # type: ignore[operator]
        timings.append(time.perf_counter() - started)
        print(f"  {label} run {i + 1}: {timings[-1] * 1000:.1f} ms")
    median = statistics.median(timings)
    print(f"{label}: median {median * 1000:.1f} ms over {runs} runs (result: {result})")
    return median


async def _http_forward(
    settings: Settings,
    factory: async_sessionmaker[AsyncSession],
    brand: uuid.UUID,
    lot: uuid.UUID,
    runs: int,
) -> float:
    """The same trace as one API call: GET /v1/admin/traces/forward on the real app (in
    process, ASGI transport), as a brand admin."""
    async with factory() as session:
        user = await accounts.create_user(
            session,
            None,
            username=f"bench-{uuid.uuid4().hex[:8]}",
            password=uuid.uuid4().hex,
            role=Role.BRAND_ADMIN,
            brand_id=brand,
        )
        await session.commit()
    token = encode_token(
        settings.auth.jwt_secret,
        subject=str(user.id),
        purpose=TokenPurpose.ADMIN,
        ttl_s=3600,
        claims={"role": Role.BRAND_ADMIN, "brand": str(brand), "username": user.username},
    )
    app = create_app(settings)
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]  # Litestar is an ASGI app; its scope types are narrower than httpx's
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

            async def call() -> str:
                response = await client.get(
                    "/v1/admin/traces/forward",
                    params={"material_lot_id": str(lot)},
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert response.status_code == 200, response.text
                summary = response.json()["summary"]
                return f"HTTP {response.status_code}, {len(response.content):,} bytes, {summary}"

            return await _time("forward trace over HTTP (GET /v1/admin/traces/forward)", runs, call)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--codes", type=int, default=10_000_000)
    parser.add_argument("--scans", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the scratch schema")
    return parser.parse_args()


async def _service_timings(
    factory: async_sessionmaker[AsyncSession],
    keyring: Keyring,
    brand: uuid.UUID,
    lot: uuid.UUID,
    runs: int,
) -> float:
    """Time the forward trace and a recall's affected set; the forward trace's median."""

    async def forward() -> str:
        async with factory() as session:
            trace = await traces.forward_trace(
                session,
                TRACE_SOURCES,
                keyring,
                brand,
                material_lot_id=lot,
                batch_id=None,
                detail="batches",
                with_lists=True,
                limit=50,
                offset=0,
            )
        assert trace.batch_rows is not None
        return (
            f"{trace.batches} batches, {trace.units_issued:,} codes, "
            f"{trace.units_scanned:,} units scanned, {trace.scans:,} scans, "
            f"{len(trace.batch_rows)} detail rows"
        )

    async with factory() as session:
        recall = await recalls.create_recall(
            session,
            None,
            brand,
            reason="bench",
            severity="high",
            consumer_instructions="c",
            distributor_instructions="d",
            scopes=[ScopeIn(kind="material_lot", material_lot_id=lot)],
        )
        await session.commit()

    async def affected() -> str:
        async with factory() as session:
            result = await recall_reports.affected_set(session, TRACE_SOURCES, recall)
        return f"{result.units_issued:,} units issued, {result.units_scanned:,} scanned"

    forward_median = await _time("forward trace (material lot)", runs, forward)
    await _time("recall affected set (same lot)", runs, affected)
    return forward_median


async def _print_plans(engine: AsyncEngine, schema: str, codes: int, per_roll: int) -> None:
    async with engine.connect() as conn:
        for label, table, width in (
            ("scans of the whole lot", "scans", codes),
            ("scans of one batch", "scans", per_roll),
            ("units of one batch", "code_first_scans", per_roll),
        ):
            query = f'EXPLAIN SELECT count(*) FROM "{schema}".{table} '  # noqa: S608 - our own generated schema name
            plan = await conn.execute(
                text(query + "WHERE code_id >= :lo AND code_id < :hi"),
                {"lo": KID << 40, "hi": (KID << 40) + width},
            )
            print(f"plan ({label}):", " / ".join(r[0].strip() for r in plan))


async def main() -> None:
    args = _parse_args()
    schema = f"bench_trace_{uuid.uuid4().hex[:8]}"
    dsn = args.database_url.replace("postgresql+asyncpg://", "postgresql://")
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    settings = _settings(args.database_url, schema)
    engine = create_engine(settings)
    try:
        await asyncio.to_thread(upgrade, settings)
        started = time.perf_counter()
        brand, lot = await _seed(
            dsn, schema, batches=args.batches, codes=args.codes, scans=args.scans
        )
        print(
            f"seeded {args.batches} batches, {args.codes:,} codes in {args.batches} rolls, "
            f"{args.scans:,} scans in {time.perf_counter() - started:.1f} s (schema {schema})"
        )
        factory = create_session_factory(engine)
        keyring = Keyring.from_mapping(settings.auth.code_keyring)
        forward_median = await _service_timings(factory, keyring, brand, lot, args.runs)
        http_median = await _http_forward(settings, factory, brand, lot, args.runs)
        await _print_plans(engine, schema, args.codes, args.codes // args.batches)
        verdict = "PASS" if max(forward_median, http_median) < 1.0 else "FAIL"
        print(
            f"{verdict}: forward trace median {forward_median * 1000:.1f} ms (service), "
            f"{http_median * 1000:.1f} ms (HTTP, one API call); budget 1000 ms"
        )
    finally:
        await engine.dispose()
        if not args.keep:
            await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
