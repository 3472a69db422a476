"""Monthly range partitions of the append tables on PostgreSQL: create ahead, list, retire.

The high-volume append tables are declaratively partitioned by time on PostgreSQL
(migration ``0013d``): one partition per calendar month (UTC) named ``<table>_pYYYYMM``, and a
``<table>_default`` partition that catches a row no month partition covers yet, so a write
never fails because the worker was late. ``ensure`` creates the months ahead (the worker does
it every hour, ``scanguard partitions ensure`` by hand) and moves any rows the default holds
for a month it creates; ``retire`` detaches and drops months older than the table's
retention (``SCANGUARD_PARTITION_RETENTION``), exporting them to a CSV file first when the
policy says so. On SQLite every table is a plain table and every function here does nothing.

Partition boundaries are UTC months on ``timestamptz`` columns: a query with a time range on
the partition column reads only the months it covers (partition pruning), so the console's
statistics stay as fast with 60 partitions as with one (docs/capacity.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import structlog
from pydantic import Field, field_validator
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kernel.settings_base import Group

if TYPE_CHECKING:
    from kernel.settings import Settings

__all__ = [
    "PARTITIONED_TABLES",
    "PartitionInfo",
    "PartitionSettings",
    "PartitionedTable",
    "RetentionPolicy",
    "RetiredPartition",
    "add_months",
    "ensure_partitions",
    "export_dir",
    "include_in_autogenerate",
    "is_partition",
    "is_partitioned",
    "list_partitions",
    "maintain_partitions",
    "month_start",
    "partition_loop",
    "partition_name",
    "retire_partitions",
]

Progress = Callable[[str], None]
log = structlog.get_logger("kernel.partitions")


@dataclass(frozen=True, slots=True)
class PartitionedTable:
    """An append table partitioned by month on ``column`` (a ``timestamptz``)."""

    name: str
    column: str


#: The partitioned tables and their partition keys (the migration 0013d made them so).
#: Not the loyalty ledger: its ``idem_key`` is the exactly-once guard of every points movement
#: and must stay unique across all time, and balances are the sum of the whole history; nor
#: ``notification_deliveries``, a mutable state table whose unique key de-duplicates fan-out.
PARTITIONED_TABLES: tuple[PartitionedTable, ...] = (
    PartitionedTable("scans", "scanned_at"),
    PartitionedTable("diversion_signals", "observed_at"),
    PartitionedTable("counterfeit_attempts", "bucket_start"),
    PartitionedTable("outbox_events", "created_at"),
    PartitionedTable("notification_delivery_attempts", "attempted_at"),
)
_BY_NAME = {t.name: t for t in PARTITIONED_TABLES}
_MONTH = re.compile(r"^(?P<table>[a-z_]+)_p(?P<y>\d{4})(?P<m>\d{2})$")


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Keep ``months`` whole months before the current one (0: keep forever); ``export``:
    write a retired partition to ``<export dir>/<partition>.csv.gz`` before dropping it."""

    months: int
    export: bool = False


@dataclass(frozen=True, slots=True)
class PartitionInfo:
    table: str
    partition: str
    lower: datetime | None  # None: the default partition
    upper: datetime | None
    rows: int  # planner estimate (pg_class.reltuples), -1 when never analysed
    bytes: int  # heap + indexes + TOAST


@dataclass(frozen=True, slots=True)
class RetiredPartition:
    table: str
    partition: str
    rows: int
    exported_to: Path | None


def is_partition(table_name: str) -> bool:
    """Whether ``table_name`` names a partition of one of the partitioned tables."""
    match = _MONTH.match(table_name)
    if match:
        return match["table"] in _BY_NAME
    return table_name.endswith("_default") and table_name[: -len("_default")] in _BY_NAME


def include_in_autogenerate(
    name: str | None, type_: str, parent_names: Mapping[Any, str | None]
) -> bool:
    """Alembic ``include_name`` hook: partitions (and their indexes) are not model tables."""
    if type_ == "table":
        return name is None or not is_partition(name)
    if type_ in ("index", "unique_constraint", "column", "foreign_key_constraint"):
        table = parent_names.get("table_name")
        return not (isinstance(table, str) and is_partition(table))
    return True


def month_start(moment: datetime | date) -> date:
    """The first day of ``moment``'s month (UTC)."""
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC).date()
    return moment.replace(day=1)


def add_months(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def partition_name(table: str, month: date) -> str:
    return f"{table}_p{month.year:04d}{month.month:02d}"


def _bound(month: date) -> str:
    return f"'{month.isoformat()} 00:00:00+00'"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _schema(conn: AsyncConnection) -> str:
    return str((await conn.execute(text("SELECT current_schema()"))).scalar_one())


async def is_partitioned(conn: AsyncConnection, table: str) -> bool:
    """Whether ``table`` (in the current schema) is a partitioned table (never on SQLite)."""
    if conn.dialect.name != "postgresql":
        return False
    kind = (
        await conn.execute(
            text(
                "SELECT c.relkind::text FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relname = :t"
            ),
            {"t": table},
        )
    ).scalar_one_or_none()
    return kind == "p"


async def list_partitions(
    conn: AsyncConnection, tables: Iterable[str] | None = None
) -> list[PartitionInfo]:
    """Every partition of the partitioned tables, oldest month first, default last."""
    if conn.dialect.name != "postgresql":
        return []
    wanted = list(tables) if tables is not None else [t.name for t in PARTITIONED_TABLES]
    rows = (
        await conn.execute(
            text(
                "SELECT p.relname AS parent, c.relname AS child, c.reltuples::bigint AS rows, "
                "pg_total_relation_size(c.oid) AS bytes "
                "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent "
                "JOIN pg_namespace n ON n.oid = p.relnamespace "
                "WHERE n.nspname = current_schema() AND p.relkind = 'p' "
                "AND p.relname = ANY(:tables)"
            ),
            {"tables": wanted},
        )
    ).all()
    out: list[PartitionInfo] = []
    for parent, child, estimate, size in rows:
        match = _MONTH.match(child)
        lower = upper = None
        if match and match["table"] == parent:
            first = date(int(match["y"]), int(match["m"]), 1)
            lower = datetime(first.year, first.month, 1, tzinfo=UTC)
            nxt = add_months(first, 1)
            upper = datetime(nxt.year, nxt.month, 1, tzinfo=UTC)
        out.append(PartitionInfo(parent, child, lower, upper, int(estimate), int(size)))
    far = datetime.max.replace(tzinfo=UTC)
    out.sort(key=lambda p: (wanted.index(p.table), p.lower or far, p.partition))
    return out


async def ensure_partitions(
    conn: AsyncConnection,
    *,
    now: datetime,
    months_ahead: int,
    tables: Sequence[PartitionedTable] = PARTITIONED_TABLES,
    progress: Progress | None = None,
) -> list[str]:
    """Create the month partitions from ``now``'s month to ``months_ahead`` months later that
    do not exist yet; return their names. Rows the default partition holds for a month being
    created move into it (in this transaction; the parent is locked while they move)."""
    if conn.dialect.name != "postgresql":
        return []
    schema = await _schema(conn)
    created: list[str] = []
    first = month_start(now)
    for table in tables:
        if not await is_partitioned(conn, table.name):
            continue
        existing = {p.partition for p in await list_partitions(conn, [table.name])}
        for offset in range(months_ahead + 1):
            month = add_months(first, offset)
            name = partition_name(table.name, month)
            if name in existing:
                continue
            moved = await _create_month(conn, schema, table, month, existing)
            created.append(name)
            if progress:
                note = f" ({moved} rows moved from the default partition)" if moved else ""
                progress(f"created {name}{note}")
    return created


async def _create_month(
    conn: AsyncConnection, schema: str, table: PartitionedTable, month: date, existing: set[str]
) -> int:
    parent = f"{_q(schema)}.{_q(table.name)}"
    name = partition_name(table.name, month)
    lower, upper = _bound(month), _bound(add_months(month, 1))
    default = f"{table.name}_default"
    col = _q(table.column)
    stray = 0
    if default in existing:
        stray = int(
            (
                await conn.execute(
                    text(
                        f"SELECT count(*) FROM {_q(schema)}.{_q(default)} "  # noqa: S608 - quoted identifiers
                        f"WHERE {col} >= {lower} AND {col} < {upper}"
                    )
                )
            ).scalar_one()
        )
    if not stray:
        # Creating the partition scans the default for rows of its range (none, just checked).
        await conn.execute(
            text(
                f"CREATE TABLE {_q(schema)}.{_q(name)} PARTITION OF {parent} "
                f"FOR VALUES FROM ({lower}) TO ({upper})"
            )
        )
        return 0
    # The default holds rows of this month: take it out, create the month, move the rows
    # through the parent (they route to the new partition), and put the default back.
    qdefault = f"{_q(schema)}.{_q(default)}"
    await conn.execute(text(f"ALTER TABLE {parent} DETACH PARTITION {qdefault}"))
    await conn.execute(
        text(
            f"CREATE TABLE {_q(schema)}.{_q(name)} PARTITION OF {parent} "
            f"FOR VALUES FROM ({lower}) TO ({upper})"
        )
    )
    where = f"{col} >= {lower} AND {col} < {upper}"
    await conn.execute(
        text(
            f"WITH moved AS (DELETE FROM {qdefault} WHERE {where} RETURNING *) "  # noqa: S608
            f"INSERT INTO {parent} SELECT * FROM moved"
        )
    )
    await conn.execute(text(f"ALTER TABLE {parent} ATTACH PARTITION {qdefault} DEFAULT"))
    return stray


async def retire_partitions(
    conn: AsyncConnection,
    *,
    now: datetime,
    retention: Mapping[str, RetentionPolicy],
    export_dir: Path,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> list[RetiredPartition]:
    """Detach and drop the month partitions that ended before the retention window of their
    table (``months`` whole months before ``now``'s month), exporting each to a gzipped CSV
    first where the policy says so. A table without a policy, or with ``months == 0``, keeps
    everything. The default partition is never retired."""
    if conn.dialect.name != "postgresql":
        return []
    schema = await _schema(conn)
    retired: list[RetiredPartition] = []
    for table_name, policy in retention.items():
        if policy.months <= 0 or table_name not in _BY_NAME:
            continue
        cutoff = add_months(month_start(now), -policy.months)
        limit = datetime(cutoff.year, cutoff.month, 1, tzinfo=UTC)
        for part in await list_partitions(conn, [table_name]):
            if part.upper is None or part.upper > limit:
                continue
            qualified = f"{_q(schema)}.{_q(part.partition)}"
            count = text(f"SELECT count(*) FROM {qualified}")  # noqa: S608 - quoted identifiers
            rows = int((await conn.execute(count)).scalar_one())
            if dry_run:
                retired.append(RetiredPartition(table_name, part.partition, rows, None))
                if progress:
                    progress(f"would retire {part.partition} ({rows} rows)")
                continue
            await conn.execute(
                text(f"ALTER TABLE {_q(schema)}.{_q(table_name)} DETACH PARTITION {qualified}")
            )
            path: Path | None = None
            if policy.export:
                path = await _export(conn, schema, part.partition, export_dir)
            await conn.execute(text(f"DROP TABLE {qualified}"))
            retired.append(RetiredPartition(table_name, part.partition, rows, path))
            if progress:
                where = f", exported to {path}" if path else ""
                progress(f"retired {part.partition} ({rows} rows{where})")
    return retired


async def _export(conn: AsyncConnection, schema: str, partition: str, export_dir: Path) -> Path:
    """COPY the partition out as CSV with a header into ``<export_dir>/<partition>.csv.gz``
    (written to a temporary name and renamed, so a file there is always complete)."""
    await asyncio.to_thread(export_dir.mkdir, parents=True, exist_ok=True)
    final = export_dir / f"{partition}.csv.gz"
    partial = final.with_name(final.name + ".part")
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    with gzip.open(partial, "wb") as out:

        async def sink(chunk: bytes) -> None:
            out.write(chunk)

        await driver.copy_from_table(  # type: ignore[union-attr]
            partition, schema_name=schema, output=sink, format="csv", header=True
        )
    await asyncio.to_thread(partial.replace, final)
    return final


def export_dir(settings: Settings) -> Path:
    """Where retired partitions are exported."""
    return settings.partitions.export_dir or settings.var_dir / "partitions"


async def maintain_partitions(
    engine: AsyncEngine,
    settings: Settings,
    *,
    now: datetime,
    retire: bool = True,
    progress: Progress | None = None,
) -> tuple[list[str], list[RetiredPartition]]:
    """One maintenance pass (the worker's, hourly): make the months ahead, then retire what
    the retention policies let go. Each step in its own transaction; nothing on SQLite."""
    if engine.dialect.name != "postgresql":
        return [], []
    async with engine.begin() as conn:
        created = await ensure_partitions(
            conn, now=now, months_ahead=settings.partitions.months_ahead, progress=progress
        )
    retired: list[RetiredPartition] = []
    if retire:
        async with engine.begin() as conn:
            retired = await retire_partitions(
                conn,
                now=now,
                retention=settings.partitions.policies,
                export_dir=export_dir(settings),
                progress=progress,
            )
    return created, retired


async def partition_loop(engine: AsyncEngine, settings: Settings, stop: asyncio.Event) -> None:
    """The worker's maintenance: ``maintain_partitions`` at once and then every
    ``SCANGUARD_PARTITION_WORKER_INTERVAL_S`` until ``stop`` is set. A failed pass (database
    down, a lock not granted) is logged and retried at the next interval: months are made
    ``months_ahead`` in advance, so a missed pass costs nothing."""
    if engine.dialect.name != "postgresql":
        return
    while not stop.is_set():
        try:
            created, retired = await maintain_partitions(engine, settings, now=_now())
            if created or retired:
                log.info(
                    "partitions.maintenance.done",
                    created=created,
                    retired=[r.partition for r in retired],
                )
        except (DBAPIError, OSError) as exc:
            log.warning("partitions.maintenance.failed", error=repr(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.partitions.worker_interval_s)


def _now() -> datetime:
    return datetime.now(UTC)


class PartitionSettings(Group):
    """Monthly partitions of the append tables on PostgreSQL (``scanguard partitions``,
    kernel/partitions.py): how far ahead they are made and how long each table keeps them."""

    ENV_PREFIX: ClassVar[str] = "SCANGUARD_PARTITION_"

    months_ahead: int = Field(3, ge=1, le=24, description="month partitions kept made ahead")
    retention: str = Field(
        "outbox_events:3,notification_delivery_attempts:3",
        description="table:months[:export],... whole months kept before the current one; "
        "older partitions are dropped (export: written to a .csv.gz first); unlisted: kept",
    )
    export_dir: Path | None = Field(
        None, description="where retired partitions are exported (unset: <var_dir>/partitions)"
    )
    worker_interval_s: float = Field(
        3600.0, gt=0, description="how often the worker makes partitions ahead and retires old ones"
    )

    @field_validator("retention")
    @classmethod
    def _check_retention(cls, value: str) -> str:
        cls.parse_retention(value)
        return value

    @staticmethod
    def parse_retention(value: str) -> dict[str, RetentionPolicy]:
        known = {t.name for t in PARTITIONED_TABLES}
        policies: dict[str, RetentionPolicy] = {}
        for item in filter(None, (part.strip() for part in value.split(","))):
            table, _, rest = item.partition(":")
            months, _, action = rest.partition(":")
            if table not in known:
                raise ValueError(
                    f"{table!r} is not a partitioned table ({', '.join(sorted(known))})"
                )
            if not months.isdigit() or action not in ("", "export", "drop"):
                raise ValueError(f"{item!r}: expected table:months[:export]")
            policies[table] = RetentionPolicy(int(months), export=action == "export")
        return policies

    @property
    def policies(self) -> dict[str, RetentionPolicy]:
        """Each listed table's retention policy."""
        return self.parse_retention(self.retention)
