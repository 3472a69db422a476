"""Capacity figures for docs/capacity.md: bytes per scan in PostgreSQL, Redis memory per active
code, the console's scan queries as partitions are added, and the sizing they imply. Not a test.

Run::

    python -m loadtests.capacity [--scans 10000000] [--months 12] [--out var/capacity.json]

- PostgreSQL (``--database-url``, default ``SCANGUARD_BENCH_DATABASE_URL`` or the local test
  server): a scratch schema built by the real migrations (so ``scans`` is the real partitioned
  table with its real indexes), ``--scans`` synthetic scans inserted month by month with
  ``INSERT .. SELECT generate_series`` in time order (indexes maintained as the scan log
  maintains them), heap + indexes + TOAST measured per scan; the console's scan queries
  (a code's history, a recall's hits, a brand's last 30 days per day) timed after each stage
  of months loaded, and again with 48 more (empty) month partitions. The schema is dropped.
- Redis (``--redis-url``): the real app in-process scans ``--redis-codes`` fresh codes of a
  seeded roll, then ``MEMORY USAGE`` of every key it left, grouped by key shape.
- Scans/s per core: not measured here (a long benchmark on a shared machine); the figure is
  the last ``make bench`` run's, quoted from docs/benchmarks.md (``--scans-per-core``).

Prints ``name: value`` lines and writes every figure and the sizing table to ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import secrets
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # no type stubs
import httpx
import redis.asyncio as aioredis

from kernel.migrate import upgrade_async
from kernel.partitions import add_months, month_start
from kernel.settings import Settings

__all__ = ["main", "sizing"]

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
#: genuine first scans per second of one gateway worker process, `make bench` of
#: 2026-11-25 04:20 UTC (docs/benchmarks.md, "Latest figures"): the whole scan path on, with
#: PostgreSQL and Redis on the same two cores.
BENCH_GENUINE_PER_WORKER = 3768.0
UNITS_PER_BRAND_YEAR = 1_000_000_000
SCAN_RATE = 0.40  # scans per unit issued (DOMAIN-RESEARCH.md: about 40%)
PEAK_FACTOR = 100.0
SECONDS_PER_YEAR = 365 * 86400
UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 MicroMessenger/8.0.49(0x18003130) NetType/WIFI Language/zh_CN"
)


def _print(name: str, value: object) -> None:
    print(f"{name}: {value}", flush=True)


# ------------------------------------------------------------------------------------------
# PostgreSQL
# ------------------------------------------------------------------------------------------
_INSERT = """
INSERT INTO scans (scan_uid, scanned_at, code_id, brand_id, product_id, roll_id, verdict,
    device_hash, ip, country, region, city, lat, lon, accuracy_m, location_source,
    location_confidence, channel, user_agent, distributor_id, shipment_id, diverted, recall_id)
SELECT gen_random_uuid(),
    $1::timestamptz + ((g - $7::bigint) * ($2::float8 / $3::float8)) * interval '1 second',
    (random() * 1e12)::bigint,
    ('00000000-0000-4000-8000-' || lpad((g % 100)::text, 12, '0'))::uuid,
    ('00000000-0000-4000-9000-' || lpad((g % 1000)::text, 12, '0'))::uuid,
    ('00000000-0000-4000-a000-' || lpad((g % 10000)::text, 12, '0'))::uuid,
    CASE WHEN g % 10 < 6 THEN 'genuine' WHEN g % 10 < 9 THEN 'already_scanned'
         ELSE 'suspicious' END,
    md5(g::text) || md5((g + 1)::text),
    '10.' || (g % 250) || '.' || ((g / 250) % 250) || '.' || (g % 199),
    'CN',
    (ARRAY['CN-GD','CN-ZJ','CN-SH','CN-BJ','CN-JS','CN-SC'])[1 + g % 6],
    (ARRAY['广州市','杭州市','上海市','北京市','南京市','成都市'])[1 + g % 6],
    CASE WHEN g % 10 < 3 THEN 23.1 + (g % 1000) / 1e4 END,
    CASE WHEN g % 10 < 3 THEN 113.2 + (g % 1000) / 1e4 END,
    CASE WHEN g % 10 < 3 THEN 35.0 END,
    CASE WHEN g % 10 < 3 THEN 'gps' ELSE 'ip' END,
    CASE WHEN g % 10 < 3 THEN 0.9 ELSE 0.5 END,
    CASE WHEN g % 2 = 0 THEN 'json' ELSE 'html' END,
    $4,
    CASE WHEN g % 2 = 0
         THEN ('00000000-0000-4000-b000-' || lpad((g % 500)::text, 12, '0'))::uuid END,
    CASE WHEN g % 2 = 0
         THEN ('00000000-0000-4000-c000-' || lpad((g % 5000)::text, 12, '0'))::uuid END,
    CASE WHEN g % 2 = 0 THEN g % 7 = 0 END,
    CASE WHEN g % 100 = 0 THEN '00000000-0000-4000-d000-000000000001'::uuid END
FROM generate_series($5::bigint, $6::bigint) AS g
"""

BRAND = uuid.UUID("00000000-0000-4000-8000-000000000007")
RECALL = uuid.UUID("00000000-0000-4000-d000-000000000001")


async def _time_queries(conn: asyncpg.Connection, last_month_start: datetime) -> dict[str, float]:
    """Median of 5 runs (ms) of the console's scan queries: a code's history (gateway
    monitoring), a recall's hits (traceability), a brand's scans per day over 30 days."""
    code_id = await conn.fetchval(
        "SELECT code_id FROM scans WHERE brand_id = $1 AND scanned_at >= $2 LIMIT 1",
        BRAND,
        last_month_start,
    )
    end = last_month_start + timedelta(days=30)
    queries = {
        "code_history_ms": (
            "SELECT count(*), count(DISTINCT device_hash) FROM scans "
            "WHERE code_id = $1 AND brand_id = $2",
            (code_id, BRAND),
        ),
        "code_history_page_ms": (
            "SELECT * FROM scans WHERE code_id = $1 AND brand_id = $2 "
            "ORDER BY scanned_at DESC LIMIT 50",
            (code_id, BRAND),
        ),
        # The same, bounded below by the day the code's roll was issued (no code is scanned
        # before it exists; here: the month the code was scanned in): pruned to the months
        # since issuance.
        "code_history_since_issue_ms": (
            "SELECT count(*), count(DISTINCT device_hash) FROM scans "
            "WHERE code_id = $1 AND brand_id = $2 AND scanned_at >= $3",
            (code_id, BRAND, last_month_start),
        ),
        "recall_hits_by_region_ms": (
            "SELECT region, count(*), count(DISTINCT code_id) FROM scans "
            "WHERE brand_id = $1 AND recall_id = $2 AND scanned_at >= $3 GROUP BY region",
            (BRAND, RECALL, last_month_start),
        ),
        "brand_scans_per_day_30d_ms": (
            "SELECT date_trunc('day', scanned_at), count(*) FROM scans "
            "WHERE brand_id = $1 AND scanned_at >= $2 AND scanned_at < $3 GROUP BY 1",
            (BRAND, last_month_start, end),
        ),
    }
    out: dict[str, float] = {}
    for name, (sql, args) in queries.items():
        await conn.fetch(sql, *args)  # warm the cache: we measure plans, not the disk
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            await conn.fetch(sql, *args)
            runs.append((time.perf_counter() - started) * 1000)
        out[name] = round(statistics.median(runs), 2)
    return out


async def measure_postgres(url: str, scans: int, months: int) -> dict[str, Any]:
    schema = f"capacity_{secrets.token_hex(4)}"
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    admin = await asyncpg.connect(dsn)
    await admin.execute(f"CREATE SCHEMA {schema}")
    try:
        settings = Settings(env="test", database={"url": url, "search_path": schema})
        await upgrade_async(settings)
        conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
        try:
            return await _load_and_measure(conn, scans, months)
        finally:
            await conn.close()
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


async def _create_month(conn: asyncpg.Connection, month: date, *, if_missing: bool) -> None:
    nxt = add_months(month, 1)
    await conn.execute(
        f"CREATE TABLE {'IF NOT EXISTS ' if if_missing else ''}"
        f"scans_p{month.year:04d}{month.month:02d} PARTITION OF scans "
        f"FOR VALUES FROM ('{month.isoformat()} 00:00:00+00') "
        f"TO ('{nxt.isoformat()} 00:00:00+00')"
    )


async def _stage(
    conn: asyncpg.Connection, months_loaded: int, rows: int, last_start: datetime
) -> dict[str, Any]:
    timings = await _time_queries(conn, last_start)
    partitions = await conn.fetchval(
        "SELECT count(*) FROM pg_inherits WHERE inhparent = 'scans'::regclass"
    )
    stage = {"months_loaded": months_loaded, "rows": rows, "partitions": partitions, **timings}
    _print("pg_stage", json.dumps(stage))
    return stage


async def _sizes(conn: asyncpg.Connection, rows: int) -> dict[str, Any]:
    heap, indexes, toast = await conn.fetchrow(
        "SELECT sum(pg_relation_size(c.oid)), sum(pg_indexes_size(c.oid)), "
        "sum(pg_total_relation_size(c.oid) - pg_relation_size(c.oid) - pg_indexes_size(c.oid)) "
        "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'scans'::regclass"
    )
    per_index = {
        row["name"]: int(row["bytes"])
        for row in await conn.fetch(
            "SELECT regexp_replace(ic.relname, '^scans_p[0-9]+_|^scans_default_', '') AS name, "
            "sum(pg_relation_size(ic.oid)) AS bytes FROM pg_inherits i "
            "JOIN pg_index x ON x.indrelid = i.inhrelid JOIN pg_class ic ON ic.oid = x.indexrelid "
            "WHERE i.inhparent = 'scans'::regclass GROUP BY 1 ORDER BY 2 DESC"
        )
    }
    total = int(heap) + int(indexes) + int(toast)
    return {
        "heap_bytes": int(heap),
        "index_bytes": int(indexes),
        "toast_bytes": int(toast),
        "bytes_per_scan": round(total / rows, 1),
        "heap_bytes_per_scan": round(int(heap) / rows, 1),
        "index_bytes_per_scan": round(int(indexes) / rows, 1),
        "index_bytes_by_index": per_index,
    }


async def _load_and_measure(conn: asyncpg.Connection, scans: int, months: int) -> dict[str, Any]:
    await conn.execute("SET synchronous_commit = off")
    first = add_months(month_start(datetime.now(UTC)), -(months - 1))
    for offset in range(months + 3):
        await _create_month(conn, add_months(first, offset), if_missing=True)
    per_month = scans // months
    stages: list[dict[str, Any]] = []
    stage_at = sorted({1, 3, 6, months} & set(range(1, months + 1)))
    loaded = 0
    started = time.perf_counter()
    last_start = datetime(first.year, first.month, 1, tzinfo=UTC)
    for index in range(months):
        month = add_months(first, index)
        start = datetime(month.year, month.month, 1, tzinfo=UTC)
        span = (
            datetime(add_months(month, 1).year, add_months(month, 1).month, 1, tzinfo=UTC) - start
        ).total_seconds()
        chunk = 1_000_000
        for lo in range(0, per_month, chunk):
            hi = min(per_month, lo + chunk) - 1
            await conn.execute(
                _INSERT, start, span, per_month, UA, loaded + lo, loaded + hi, loaded
            )
        loaded += per_month
        last_start = start
        _print("pg_loaded_rows", f"{loaded} ({time.perf_counter() - started:.0f} s)")
        if index + 1 in stage_at:
            await conn.execute("ANALYZE scans")
            stages.append(await _stage(conn, index + 1, loaded, last_start))
    sizes = await _sizes(conn, loaded)
    # Partitions added: older months (empty: a deployment years old whose earliest months
    # hold no scans of these codes), 24 and then 24 more; the same queries again.
    for added in (24, 48):
        for offset in range(added - 24, added):
            await _create_month(conn, add_months(first, -(offset + 1)), if_missing=False)
        stages.append(await _stage(conn, months, loaded, last_start))
    return {
        "rows": loaded,
        "months": months,
        "load_s": round(time.perf_counter() - started, 1),
        **sizes,
        "stages": stages,
    }


# ------------------------------------------------------------------------------------------
# Redis
# ------------------------------------------------------------------------------------------
_SHAPE = re.compile(r"\{[^}]*\}|[0-9a-f]{8,}|\d+")


async def measure_redis(redis_url: str, codes: int) -> dict[str, Any]:
    """Scan ``codes`` fresh codes through the real app and weigh the keys it leaves."""
    from admin_api.app import create_app, with_scan_fast_path
    from kernel.runtime import Runtime
    from loadtests.seed import SeedPlan, seed

    prefix = f"sgcap:{secrets.token_hex(4)}:"
    keyring = {kid: secrets.token_bytes(32) for kid in range(1, 5)}
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            env="test",
            var_dir=Path(tmp),
            auth={"jwt_secret": secrets.token_bytes(32), "code_keyring": keyring},
            database={"url": f"sqlite+aiosqlite:///{tmp}/cap.db"},
            redis={"url": redis_url, "prefix": prefix},
            gateway={
                "resolver_base_url": "https://id.example.test",
                "rate_limit_ip_per_minute": 1_000_000,
                "rate_limit_device_per_minute": 1_000_000,
            },
            log={"level": "WARNING"},
        )
        await upgrade_async(settings)
        runtime = Runtime.create(settings)
        try:
            plan = SeedPlan(products=1, codes=codes + 400, repeat=200, void=100, distributors=1)
            data = await seed(runtime, plan, progress=lambda _m: None)
        finally:
            await runtime.close()
        client_redis = aioredis.Redis.from_url(redis_url)
        await _delete_prefix(client_redis, prefix)  # weigh only what the scans leave
        app = create_app(settings)
        fresh = data["codes"]["fresh"][:codes]
        async with app.lifespan():
            transport = httpx.ASGITransport(app=with_scan_fast_path(app, settings))
            async with httpx.AsyncClient(transport=transport, base_url="http://cap.local") as http:
                for n, (gtin, code) in enumerate(fresh):
                    response = await http.post(
                        "/v1/scans",
                        json={
                            "url": f"https://id.example.test/01/{gtin}/21/{code}",
                            "device_id": f"device-{n % 997}",
                        },
                    )
                    response.raise_for_status()
        shapes: dict[str, list[int]] = defaultdict(list)
        ttls: dict[str, int] = {}
        async for key in client_redis.scan_iter(match=f"{prefix}*", count=1000):
            name = key.decode()[len(prefix) :]
            shape = _SHAPE.sub("*", name)
            usage = await client_redis.memory_usage(key, samples=0)
            shapes[shape].append(int(usage or 0))
            ttls.setdefault(shape, int(await client_redis.ttl(key)))
        await _delete_prefix(client_redis, prefix)
        await client_redis.aclose()
    # A code's own keys live as long as its hot state (days); rate-limit windows (a minute)
    # and cached roll metadata (per roll, an hour) are not per code.
    per_code = sum(sum(v) for shape, v in shapes.items() if ttls[shape] < 0 or ttls[shape] > 86400)
    transient = sum(sum(v) for shape, v in shapes.items() if 0 <= ttls[shape] <= 86400)
    return {
        "codes_scanned": len(fresh),
        "bytes_per_active_code": round(per_code / max(1, len(fresh)), 1),
        "transient_bytes": transient,
        "keys": {
            shape: {"count": len(v), "bytes": sum(v), "ttl_s": ttls[shape]}
            for shape, v in sorted(shapes.items(), key=lambda kv: -sum(kv[1]))
        },
    }


async def _delete_prefix(client: aioredis.Redis, prefix: str) -> None:
    keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
    for i in range(0, len(keys), 1000):
        await client.delete(*keys[i : i + 1000])


# ------------------------------------------------------------------------------------------
# Sizing
# ------------------------------------------------------------------------------------------
def sizing(
    bytes_per_scan: float,
    redis_bytes_per_code: float,
    scans_per_worker: float,
    ingest_rows_per_s: float,
    redis_ttl_days: float,
) -> list[dict[str, Any]]:
    """Nodes, disk and memory for 1, 10 and 100 brands of 1 billion units a year.

    - scans/year = brands × 1e9 × 40%; average scans/s over a year; peak = 100 × average
      (every brand at its peak at once: the worst case).
    - gateway workers (≈ cores) = peak / (half the bench's genuine scans/s per worker): the
      bench ran one worker with PostgreSQL and Redis on the same two cores; half is headroom.
    - PostgreSQL: a year of scans kept (older months retired or exported), × bytes per scan;
      Citus worker nodes = the larger of disk / 2 TB per node and peak / (a quarter of the
      measured single-session ingest rate: WAL shipping, the replica, client round trips and
      the other append tables take the rest); each node with a streaming replica.
    - Redis: codes scanned within the hot state's lifetime × bytes per active code; masters
      of at most 25 GB, each with a replica.
    """
    rows = []
    for brands in (1, 10, 100):
        per_year = brands * UNITS_PER_BRAND_YEAR * SCAN_RATE
        average = per_year / SECONDS_PER_YEAR
        peak = average * PEAK_FACTOR
        workers = math.ceil(peak / (scans_per_worker / 2))
        disk_year = per_year * bytes_per_scan
        pg_nodes = max(1, math.ceil(disk_year / 2e12), math.ceil(peak / (ingest_rows_per_s / 4)))
        active = per_year * min(1.0, redis_ttl_days / 365)
        redis_bytes = active * redis_bytes_per_code
        masters = max(1, math.ceil(redis_bytes / 25e9))
        rows.append(
            {
                "brands": brands,
                "scans_per_year": per_year,
                "average_scans_per_s": round(average, 1),
                "peak_scans_per_s": round(peak),
                "gateway_workers": workers,
                "gateway_nodes_8_cores": math.ceil(workers / 8),
                "pg_disk_tb_per_year": round(disk_year / 1e12, 2),
                "pg_disk_tb_with_replicas": round(2 * disk_year / 1e12, 2),
                "pg_nodes": pg_nodes,
                "pg_disk_tb_per_node": round(disk_year / 1e12 / pg_nodes, 2),
                "redis_active_codes": active,
                "redis_gb": round(redis_bytes / 1e9, 1),
                "redis_masters": masters,
                "redis_gb_with_replicas": round(2 * redis_bytes / 1e9, 1),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scans", type=int, default=10_000_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument(
        "--database-url", default=os.environ.get("SCANGUARD_BENCH_DATABASE_URL", DEFAULT_PG)
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--redis-codes", type=int, default=1000)
    parser.add_argument("--scans-per-core", type=float, default=BENCH_GENUINE_PER_WORKER)
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument("--skip-redis", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("var/capacity.json"))
    args = parser.parse_args(argv)
    figures: dict[str, Any] = {"scans_per_worker": args.scans_per_core}
    previous: dict[str, Any] = {}
    if args.out.exists():
        previous = json.loads(args.out.read_text())
    if not args.skip_redis:
        figures["redis"] = asyncio.run(measure_redis(args.redis_url, args.redis_codes))
        _print("redis_bytes_per_active_code", figures["redis"]["bytes_per_active_code"])
    elif "redis" in previous:
        figures["redis"] = previous["redis"]
    if not args.skip_pg:
        figures["postgres"] = asyncio.run(
            measure_postgres(args.database_url, args.scans, args.months)
        )
        _print("pg_bytes_per_scan", figures["postgres"]["bytes_per_scan"])
    elif "postgres" in previous:
        figures["postgres"] = previous["postgres"]
    if "redis" in figures and "postgres" in figures:
        ttl = max((k["ttl_s"] for k in figures["redis"]["keys"].values()), default=-1)
        ttl_days = 400.0 if ttl < 0 else ttl / 86400
        figures["redis_ttl_days"] = round(ttl_days, 1)
        for name, days in (("sizing", ttl_days), ("sizing_redis_ttl_30d", 30.0)):
            pg = figures["postgres"]
            figures[name] = sizing(
                pg["bytes_per_scan"],
                figures["redis"]["bytes_per_active_code"],
                args.scans_per_core,
                pg["rows"] / pg["load_s"],
                days,
            )
            for row in figures[name]:
                _print(name, json.dumps(row))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
