"""Monthly partitions of the append tables on PostgreSQL (kernel/partitions.py, migration
0013d, ``scanguard partitions``): rows land in their month, the migration converts a database
that has rows, ``ensure`` makes next months (and rescues rows the default caught), retention
drops or exports old months, and SQLite keeps plain tables."""

from __future__ import annotations

import asyncio
import base64
import gzip
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from click.testing import CliRunner
from litestar import Litestar
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncConnection

from admin_api.cli import main
from gateway.models import Scan
from kernel.db import create_engine
from kernel.migrate import upgrade
from kernel.outbox import OutboxEvent
from kernel.partitions import add_months, ensure_partitions, month_start, partition_name
from kernel.settings import Settings
from tests.conftest import (
    DEFAULT_TEST_DATABASE_URL,
    WORKER,
    _in_thread,
    _missing_service,
    base_settings,
)
from tests.factories.codes import codes_of, make_roll, scan_path
from tests.factories.tenancy import make_brand, make_product

PG_URL = os.environ.get("SCANGUARD_TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)
DSN = PG_URL.replace("postgresql+asyncpg://", "postgresql://")


def _execute(sql: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(DSN, timeout=3)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    _in_thread(run)


@pytest.fixture
def scratch_schema() -> Iterator[str]:
    """An empty schema of this test's own (partitions made here touch no other test)."""
    schema = f"sgtest_{WORKER}_part_{uuid.uuid4().hex[:8]}"
    try:
        _execute(f'CREATE SCHEMA "{schema}"')
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        _missing_service(f"PostgreSQL at {DSN}", exc)
    try:
        yield schema
    finally:
        _execute(f'DROP SCHEMA "{schema}" CASCADE')


def _pg_settings(schema: str, tmp_path: Path) -> Settings:
    return base_settings(var_dir=tmp_path, database={"url": PG_URL, "search_path": schema})


def _scan_row(at: datetime, **extra: object) -> dict[str, object]:
    return {
        "scan_uid": uuid.uuid4(),
        "scanned_at": at,
        "code_id": 42,
        "brand_id": uuid.uuid4(),
        "product_id": uuid.uuid4(),
        "roll_id": uuid.uuid4(),
        "verdict": "genuine",
        "device_hash": "d" * 64,
        "ip": "203.0.113.7",
        "location_source": "none",
        "channel": "json",
        **extra,
    }


async def _where(conn: AsyncConnection, table: str, column: str) -> dict[str, int]:
    """Which partition holds how many rows of ``table``."""
    rows = await conn.execute(
        text(f"SELECT tableoid::regclass::text, count(*) FROM {table} GROUP BY 1")  # noqa: S608
    )
    return {str(name).split(".")[-1]: int(n) for name, n in rows}


def _run(settings: Settings, job):  # type: ignore[no-untyped-def]
    async def main_() -> object:
        engine = create_engine(settings, nullpool=True)
        try:
            async with engine.begin() as conn:
                return await job(conn)
        finally:
            await engine.dispose()

    return asyncio.run(main_())


def _cli_env(monkeypatch: pytest.MonkeyPatch, schema: str, tmp_path: Path, **extra: str) -> None:
    for name, value in {
        "ENV": "test",
        "DATABASE_URL": PG_URL,
        "DATABASE_SCHEMA": schema,
        "JWT_SECRET": "x" * 40,
        "CODE_KEYS": f"1:{base64.b64encode(bytes(32)).decode()}",
        "VAR_DIR": str(tmp_path),
        "LOG_LEVEL": "WARNING",
        **extra,
    }.items():
        monkeypatch.setenv(f"SCANGUARD_{name}", value)


def test_migration_converts_a_database_with_rows(scratch_schema: str, tmp_path: Path) -> None:
    settings = _pg_settings(scratch_schema, tmp_path)
    upgrade(settings, "0012g")
    now = datetime.now(UTC)
    old = datetime(2026, 3, 15, 12, tzinfo=UTC)
    rows = [_scan_row(old), _scan_row(old + timedelta(days=40)), _scan_row(now)]

    async def seed(conn: AsyncConnection) -> None:
        await conn.execute(insert(Scan.__table__), rows)
        await conn.execute(
            insert(OutboxEvent.__table__),
            [
                {
                    "event_uid": uuid.uuid4(),
                    "event_type": "recall.started",
                    "subject_type": "recall",
                    "subject_id": "r1",
                    "payload": {},
                    "created_at": old,
                }
            ],
        )

    _run(settings, seed)
    upgrade(settings)

    async def check(conn: AsyncConnection) -> tuple[dict[str, int], dict[str, int], int, str]:
        scans = await _where(conn, "scans", "scanned_at")
        outbox = await _where(conn, "outbox_events", "created_at")
        new_id = (
            await conn.execute(
                insert(Scan.__table__).values(_scan_row(now)).returning(Scan.__table__.c.id)
            )
        ).scalar_one()
        kind = (
            await conn.execute(
                text("SELECT relkind::text FROM pg_class WHERE oid = 'scans'::regclass")
            )
        ).scalar_one()
        return scans, outbox, int(new_id), str(kind)

    scans, outbox, new_id, kind = _run(settings, check)
    assert kind == "p"
    this_month = partition_name("scans", month_start(now))
    expected = {"scans_p202603": 1, "scans_p202604": 1}
    expected[this_month] = expected.get(this_month, 0) + 1
    assert scans == expected
    assert outbox == {"outbox_events_p202603": 1}
    assert new_id == 4  # the id sequence went with the table


@pytest.mark.parametrize("backend", ["services"], indirect=True)  # SQLite keeps plain tables
async def test_scans_through_http_land_in_this_months_partition(
    backend: str, app: Litestar, client: httpx.AsyncClient
) -> None:
    brand = await make_brand(app)
    product = await make_product(app, brand)
    roll = await make_roll(app, brand, product, count=5)
    for code in codes_of(app, roll, product.gtin, [0, 1]):
        response = await client.get(
            scan_path(product.gtin, code), headers={"Accept": "application/json"}
        )
        assert response.json()["verdict"] == "genuine"
    async with app.state.runtime.engine.connect() as conn:
        held = await _where(conn, "scans", "scanned_at")
    assert held == {partition_name("scans", month_start(datetime.now(UTC))): 2}


def test_ensure_makes_next_months_and_rescues_the_default(
    scratch_schema: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _pg_settings(scratch_schema, tmp_path)
    upgrade(settings)
    later = add_months(month_start(datetime.now(UTC)), 5)  # beyond the 3 months made ahead
    at = datetime(later.year, later.month, 2, 8, tzinfo=UTC)

    async def early(conn: AsyncConnection) -> dict[str, int]:
        await conn.execute(insert(Scan.__table__), [_scan_row(at)])
        return await _where(conn, "scans", "scanned_at")

    assert _run(settings, early) == {"scans_default": 1}  # never refused, held aside

    _cli_env(monkeypatch, scratch_schema, tmp_path)
    result = CliRunner().invoke(main, ["partitions", "ensure", "--months-ahead", "6"])
    assert result.exit_code == 0, result.output
    target = partition_name("scans", later)
    assert f"created {target} (1 rows moved from the default partition)" in result.output
    again = CliRunner().invoke(main, ["partitions", "ensure", "--months-ahead", "6"])
    assert "0 partitions created" in again.output

    async def after(conn: AsyncConnection) -> dict[str, int]:
        await conn.execute(insert(Scan.__table__), [_scan_row(at + timedelta(days=3))])
        return await _where(conn, "scans", "scanned_at")

    assert _run(settings, after) == {target: 2}
    listing = CliRunner().invoke(main, ["partitions", "list"])
    assert listing.exit_code == 0, listing.output
    assert target in listing.output
    assert "scans_default" in listing.output


def test_retention_exports_then_drops_old_months(
    scratch_schema: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _pg_settings(scratch_schema, tmp_path)
    upgrade(settings)
    this_month = month_start(datetime.now(UTC))
    old = add_months(this_month, -14)
    old_at = datetime(old.year, old.month, 10, tzinfo=UTC)

    async def seed(conn: AsyncConnection) -> None:
        await ensure_partitions(conn, now=old_at, months_ahead=1)
        rows = [_scan_row(old_at), _scan_row(old_at + timedelta(hours=1)), _scan_row(old_at)]
        rows.append(_scan_row(datetime.now(UTC)))
        await conn.execute(insert(Scan.__table__), rows)

    _run(settings, seed)
    _cli_env(
        monkeypatch, scratch_schema, tmp_path, PARTITION_RETENTION="scans:12:export,outbox_events:1"
    )
    dry = CliRunner().invoke(main, ["partitions", "retire", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"would retire {partition_name('scans', old)} (3 rows)" in dry.output
    result = CliRunner().invoke(main, ["partitions", "retire"])
    assert result.exit_code == 0, result.output
    exported = tmp_path / "partitions" / f"{partition_name('scans', old)}.csv.gz"
    assert f"retired {partition_name('scans', old)} (3 rows, exported to {exported})" in (
        result.output
    )
    lines = gzip.decompress(exported.read_bytes()).decode().splitlines()
    assert lines[0].startswith("id,scan_uid,scanned_at")
    assert len(lines) == 4

    async def left(conn: AsyncConnection) -> tuple[dict[str, int], list[str]]:
        names = await conn.execute(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'scans'::regclass"
            )
        )
        return await _where(conn, "scans", "scanned_at"), sorted(n for (n,) in names)

    held, names = _run(settings, left)
    assert held == {partition_name("scans", this_month): 1}
    assert partition_name("scans", old) not in names
    assert partition_name("scans", add_months(old, 1)) not in names  # older than 12 months too
    assert partition_name("scans", this_month) in names
    assert "scans_default" in names


def test_sqlite_has_no_partitions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.factories.cli import cli_settings

    cli_settings(monkeypatch, tmp_path)
    for command in ("ensure", "list", "retire"):
        result = CliRunner().invoke(main, ["partitions", command])
        assert result.exit_code == 0, result.output
        assert "SQLite: the append tables are plain tables" in result.output
