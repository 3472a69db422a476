"""Test harness: every app-level test runs on the embedded defaults AND on PostgreSQL + Redis.

- ``embedded``: a SQLite file copied from a template migrated once per session, and the
  in-process Redis-compatible store.
- ``services``: a scratch schema in ``SCANGUARD_TEST_DATABASE_URL`` migrated once per session
  (tables truncated after each test) and ``SCANGUARD_TEST_REDIS_URL`` with a per-test key
  prefix (keys deleted after each test). Under pytest-xdist each worker is its own session:
  its schema and key prefixes carry the worker id (``sgtest_gw0_…``), so workers never see
  each other's rows or keys. Skipped when a server is unreachable, unless
  ``SCANGUARD_REQUIRE_SERVICES=1`` (CI), where that is a failure.

Schemas are made only by the Alembic migrations.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import secrets
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from litestar import Litestar
from sqlalchemy import text

from admin_api.app import create_app, with_scan_fast_path
from kernel.db import create_engine
from kernel.migrate import upgrade
from kernel.settings import Settings

DEFAULT_TEST_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/0"
REQUIRE_SERVICES = os.environ.get("SCANGUARD_REQUIRE_SERVICES", "") not in ("", "0", "false")
BACKENDS = ("embedded", "services")
T = TypeVar("T")
#: "gw0", "gw1", … under pytest-xdist; "main" when the suite runs in one process.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")


def _missing_service(what: str, error: BaseException) -> None:
    message = f"{what} unreachable: {error}"
    if REQUIRE_SERVICES:
        pytest.fail(f"SCANGUARD_REQUIRE_SERVICES is set but {message}", pytrace=False)
    pytest.skip(message)


def base_settings(**overrides: object) -> Settings:
    """Settings every test starts from: random secrets, fast flushes, generous limits."""
    keyring = {kid: secrets.token_bytes(32) for kid in range(1, 33)}
    settings = Settings(
        env="test",
        auth={"jwt_secret": secrets.token_hex(32).encode(), "code_keyring": keyring},
        gateway={
            "resolver_base_url": "https://id.example.test",
            "scanlog_flush_interval_s": 0.002,
            "rate_limit_ip_per_minute": 10_000,
            "rate_limit_device_per_minute": 10_000,
            "counterfeit_ip_per_minute": 10_000,
        },
        log={"level": "WARNING"},
    )
    return settings.with_overrides(**overrides) if overrides else settings


# ------------------------------------------------------------------------------------------
# Session-wide databases
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(base_settings(database={"url": f"sqlite+aiosqlite:///{path}"}))
    return path


def _in_thread(coro_fn: Callable[[], Awaitable[T]]) -> T:
    """Run async set-up from a sync session fixture (the test loop may already be running)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro_fn()).result()  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[tuple[str, str]]:
    url = os.environ.get("SCANGUARD_TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    schema = f"sgtest_{WORKER}_{uuid.uuid4().hex[:10]}"

    async def execute(sql: str) -> None:
        conn = await asyncpg.connect(dsn, timeout=3)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        _in_thread(lambda: execute(f'CREATE SCHEMA "{schema}"'))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        _missing_service(f"PostgreSQL at {dsn}", exc)
    try:
        upgrade(base_settings(database={"url": url, "search_path": schema}))
        yield url, schema
    finally:
        _in_thread(lambda: execute(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("SCANGUARD_TEST_REDIS_URL", DEFAULT_TEST_REDIS_URL)

    async def ping() -> None:
        client = aioredis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            await client.ping()
        finally:
            await client.aclose()

    try:
        _in_thread(ping)
    except (OSError, aioredis.RedisError) as exc:
        _missing_service(f"Redis at {url}", exc)
    return url


# ------------------------------------------------------------------------------------------
# Per-test settings on each backend
# ------------------------------------------------------------------------------------------
@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
async def settings(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Settings]:
    if backend == "embedded":
        template: Path = request.getfixturevalue("sqlite_template")
        db_path = tmp_path / "scanguard.db"
        shutil.copyfile(template, db_path)
        yield base_settings(var_dir=tmp_path, database={"url": f"sqlite+aiosqlite:///{db_path}"})
        return
    url, schema = request.getfixturevalue("postgres_schema")
    redis_url: str = request.getfixturevalue("redis_url")
    settings = base_settings(
        var_dir=tmp_path,
        database={"url": url, "search_path": schema},
        redis={"url": redis_url, "prefix": f"sgtest:{WORKER}:{uuid.uuid4().hex[:12]}:"},
    )
    try:
        yield settings
    finally:
        await clean_services(settings)


async def clean_services(settings: Settings) -> None:
    """Leave the shared servers as we found them: empty tables, no keys of ours."""
    engine = create_engine(settings, nullpool=True)
    try:
        async with engine.begin() as conn:
            names = (
                (
                    await conn.execute(
                        text(
                            "SELECT tablename FROM pg_tables WHERE schemaname = :s "
                            "AND tablename <> 'alembic_version'"
                        ),
                        {"s": settings.database.search_path},
                    )
                )
                .scalars()
                .all()
            )
            if names:
                tables = ", ".join(f'"{settings.database.search_path}"."{n}"' for n in names)
                await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()
    client = aioredis.Redis.from_url(settings.redis.url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{settings.redis.prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@asynccontextmanager
async def running_app(
    settings: Settings, *, client_ip: str = "203.0.113.7"
) -> AsyncIterator[tuple[Litestar, httpx.AsyncClient]]:
    """Start the app (lifespan included) in the test's own event loop; yield it and a client.

    The app runs in this loop (not a portal thread), so tests may also use
    ``app.state`` (sessions, Redis) directly, e.g. in factories.
    """
    app = create_app(settings)
    started, stop = asyncio.Event(), asyncio.Event()

    async def hold_lifespan() -> None:
        # Fixture set-up and teardown run in different tasks; the lifespan's task group must
        # be entered and exited in one, so it lives in its own task.
        async with app.lifespan():
            started.set()
            await stop.wait()

    holder = asyncio.create_task(hold_lifespan())
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait({holder, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if holder.done():
        waiter.cancel()
        await holder  # start-up failed: raise its error
    transport = httpx.ASGITransport(
        app=with_scan_fast_path(app, settings), client=(client_ip, 40000)
    )
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver.local"
        ) as client:
            yield app, client
    finally:
        stop.set()
        await holder


@pytest.fixture
async def app_client(settings: Settings) -> AsyncIterator[tuple[Litestar, httpx.AsyncClient]]:
    async with running_app(settings) as pair:
        yield pair


@pytest.fixture
def app(app_client: tuple[Litestar, httpx.AsyncClient]) -> Litestar:
    return app_client[0]


@pytest.fixture
def client(app_client: tuple[Litestar, httpx.AsyncClient]) -> httpx.AsyncClient:
    return app_client[1]
