"""Database primitives: one declarative base, UTC datetimes, engine and session factories.

The same models run on SQLite (embedded default) and PostgreSQL. Repositories flush, never
commit: the request or job boundary owns the transaction (``session_scope``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy import (
    BigInteger,
    DateTime,
    Integer,
    MetaData,
    Table,
    event,
)
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator, Uuid

from kernel.settings import Settings

__all__ = [
    "Base",
    "BigIntPK",
    "ReadDb",
    "UTCDateTime",
    "UUIDPrimaryKey",
    "copy_records",
    "create_engine",
    "create_read_engine",
    "create_session_factory",
    "new_uuid",
    "provide_read_db_session",
    "utcnow",
]


NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# SQLite only auto-increments INTEGER PRIMARY KEY; BIGINT on PostgreSQL.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """Timezone-aware now in UTC (the only clock the code uses)."""
    return datetime.now(UTC)


def new_uuid() -> uuid.UUID:
    return uuid.uuid4()


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes; returns aware UTC datetimes on every backend.

    SQLite has no time zones, so values are normalised to UTC on the way in and tagged on the
    way out. Naive datetimes are a programming error and rejected.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, uuid.UUID: Uuid}


class UUIDPrimaryKey:
    """Mixin: random UUID primary key (unguessable ids across tenants)."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)


async def copy_records(
    conn: AsyncConnection,
    table: Table,
    columns: Sequence[str],
    records: Sequence[Sequence[Any]],
) -> None:
    """Append ``records`` to ``table`` with PostgreSQL's binary COPY, in ``conn``'s transaction.

    Rows go straight to asyncpg's compiled encoders: no statement rendered and no per-value
    bind processing in Python, about half the CPU of an ``executemany`` INSERT (see
    docs/benchmarks.md). Values must already be what the driver sends (aware datetimes,
    ``uuid.UUID``, JSON as ``str``): column types' Python-side processing is bypassed. No
    ``ON CONFLICT``: callers that may repeat rows use an INSERT instead.
    """
    if conn.dialect.name != "postgresql":
        raise ValueError(f"COPY needs PostgreSQL, not {conn.dialect.name}")
    raw = await conn.get_raw_connection()
    await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
        table.name, records=records, columns=list(columns), schema_name=table.schema
    )


def create_engine(settings: Settings, *, url: str | None = None, **overrides: Any) -> AsyncEngine:
    """Create the async engine for ``settings.database.url`` (SQLite or PostgreSQL), or for
    ``url`` with the same options (the read replica's)."""
    url = url or settings.database.url
    # Parameters can hold secrets: errors and echo show them only when asked for explicitly.
    kwargs: dict[str, Any] = {"hide_parameters": not settings.log.sql_parameters}
    if url.startswith("sqlite"):
        # One file, one writer: WAL lets readers proceed while the scan log writes.
        kwargs["connect_args"] = {"timeout": 30}
        if ":memory:" in url or url.endswith("://"):
            raise ValueError("use a SQLite file: in-memory databases are per connection")
        kwargs["poolclass"] = NullPool if overrides.pop("nullpool", False) else None
        if kwargs["poolclass"] is None:
            del kwargs["poolclass"]
    else:
        kwargs["pool_size"] = settings.database.pool_size
        kwargs["max_overflow"] = settings.database.pool_size
        kwargs["pool_pre_ping"] = True
        if settings.database.search_path:
            kwargs["connect_args"] = {
                "server_settings": {"search_path": settings.database.search_path}
            }
        overrides.pop("nullpool", None)
    kwargs.update(overrides)
    engine = create_async_engine(url, **kwargs)
    if url.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "savepoint", _sqlite_begin_before_savepoint)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL is durable across process crash
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin_before_savepoint(conn: Connection, _name: str | None) -> None:
    """BEGIN before a SAVEPOINT that would otherwise open the database transaction.

    The driver begins a transaction only right before DML, so a SAVEPOINT issued as the first
    write ran outside any transaction and its RELEASE committed at once (a later rollback did
    not undo it). SQLAlchemy's documented pysqlite recipe (``isolation_level = None`` and
    ``BEGIN`` on every begin) fixes that too, but starts each transaction at its first read:
    a read-then-write transaction then fails with "database is locked" instead of waiting for
    a concurrent writer (tests/api/test_rolls.py::test_concurrent_issuance_disjoint). So only
    this case gets an explicit BEGIN; everything else keeps the driver's timing.
    """
    driver = conn.connection.driver_connection
    if driver is not None and not driver.in_transaction:
        conn.exec_driver_sql("BEGIN")


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


# ------------------------------------------------------------------------------------------
# Read replica
# ------------------------------------------------------------------------------------------
#: Dependency ``read_db``: a read-only session on the replica (``SCANGUARD_DATABASE_REPLICA_URL``)
#: or, without one, on the primary. For reads that may lag the primary by the replica's
#: replay delay: statistics, traces, exports, scan history. A read that must see what the same
#: client just wrote (read-your-writes) takes ``db`` instead.
ReadDb = NamedDependency[AsyncSession]


def create_read_engine(settings: Settings, **overrides: Any) -> AsyncEngine | None:
    """The replica's engine, or None when no replica is configured (reads use the primary).

    Same schema (``search_path``) and pool options as the primary's: a streaming replica is
    a byte copy of the primary's cluster."""
    replica = settings.database.replica_url
    if not replica or settings.database.is_sqlite:
        return None
    return create_engine(settings, url=replica, **overrides)


async def provide_read_db_session(state: State) -> AsyncIterator[AsyncSession]:
    """Dependency ``read_db``: a session on the read replica, never committed (it can only
    read: a hot standby refuses writes), rolled back when the request ends."""
    factory: async_sessionmaker[AsyncSession] = state.read_session_factory
    async with factory() as session:
        try:
            yield session
        finally:
            await session.rollback()
