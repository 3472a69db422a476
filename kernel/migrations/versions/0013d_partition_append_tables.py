"""partition the append tables by month on PostgreSQL; keys ready for Citus

On PostgreSQL, scans, diversion_signals, counterfeit_attempts, outbox_events and
notification_delivery_attempts become declaratively partitioned tables (RANGE on their time
column, one partition per UTC month, plus a default partition): each table is renamed aside,
a partitioned parent with the same columns, defaults, sequence, indexes and constraints takes
its name, month partitions are created from its oldest row to three months ahead, the rows
are moved, and the old table is dropped. A partitioned table's primary key and unique keys
must contain the partition key, so they gain it (and, on the tables Citus distributes by
brand, ``brand_id``; kernel/citus.py): scans (id, scanned_at, brand_id), unique (scan_uid, scanned_at,
brand_id); diversion_signals (id, observed_at, brand_id); counterfeit_attempts
(id, bucket_start); outbox_events (id, created_at), unique (event_uid, created_at);
notification_delivery_attempts (id, attempted_at); and unit_positions' primary key becomes
(id, brand_id).

SQLite keeps plain tables; only the two unique keys the models now declare change there.

Revision ID: 0013d
Revises: 0012g
Create Date: 2026-12-04 03:00:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0013d"
down_revision: str | None = "0012g"
branch_labels: str | Sequence[str] | None = None
# unit_positions (its primary key gains brand_id) comes from the aggregation branch.
depends_on: str | Sequence[str] | None = ("0004",)

MONTHS_AHEAD = 3

# table: (partition column, primary key, {unique name: (old columns, new columns)})
TABLES: dict[
    str, tuple[str, tuple[str, ...], dict[str, tuple[tuple[str, ...], tuple[str, ...]]]]
] = {
    "scans": (
        "scanned_at",
        ("id", "scanned_at", "brand_id"),
        {"uq_scans_scan_uid": (("scan_uid",), ("scan_uid", "scanned_at", "brand_id"))},
    ),
    "diversion_signals": ("observed_at", ("id", "observed_at", "brand_id"), {}),
    "counterfeit_attempts": ("bucket_start", ("id", "bucket_start"), {}),
    "outbox_events": (
        "created_at",
        ("id", "created_at"),
        {"uq_outbox_events_event_uid": (("event_uid",), ("event_uid", "created_at"))},
    ),
    "notification_delivery_attempts": ("attempted_at", ("id", "attempted_at"), {}),
}
# Unique keys that keep their columns (they contain the partition key already).
KEPT_UNIQUES = {
    "counterfeit_attempts": {
        "uq_counterfeit_attempts_bucket_start_gtin_ip_reason": (
            "bucket_start",
            "gtin",
            "ip",
            "reason",
        )
    }
}


def _unique_name(table: str, columns: Sequence[str]) -> str:
    return f"uq_{table}_{'_'.join(columns)}"


def _add_months(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _bound(month: date) -> str:
    return f"'{month.isoformat()} 00:00:00+00'"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        _sqlite_uniques(new=True)
        return
    schema = bind.execute(sa.text("SELECT current_schema()")).scalar_one()
    for table, (column, pk, uniques) in TABLES.items():
        _partition(schema, table, column, pk, uniques)
    # Citus: a distributed table's primary key contains the distribution column.
    op.execute(
        "ALTER TABLE unit_positions DROP CONSTRAINT pk_unit_positions, "
        "ADD CONSTRAINT pk_unit_positions PRIMARY KEY (id, brand_id)"
    )


def _partition(
    schema: str,
    table: str,
    column: str,
    pk: tuple[str, ...],
    uniques: dict[str, tuple[tuple[str, ...], tuple[str, ...]]],
) -> None:
    bind = op.get_bind()
    q = f'"{schema}"."{table}"'
    old = f"{table}_unpartitioned"
    # Plain indexes are re-created on the parent from their own definitions (partial ones
    # included); constraints are re-made with the partition key.
    constraint_indexes = {
        row[0]
        for row in bind.execute(
            sa.text(
                "SELECT i.relname FROM pg_constraint k JOIN pg_class i ON i.oid = k.conindid "
                "WHERE k.conrelid = CAST(:t AS regclass)"
            ),
            {"t": q},
        )
    }
    indexes = [
        (name, definition)
        for name, definition in bind.execute(
            sa.text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = :s "
                "AND tablename = :t ORDER BY indexname"
            ),
            {"s": schema, "t": table},
        )
        if name not in constraint_indexes
    ]
    # Identifiers below are this migration's own constants and the current schema's name.
    span = bind.execute(sa.text(f'SELECT min("{column}") FROM {q}')).scalar_one()  # noqa: S608
    for name, _definition in indexes:
        op.execute(f'DROP INDEX "{schema}"."{name}"')
    for (constraint,) in bind.execute(
        sa.text(
            "SELECT conname FROM pg_constraint WHERE conrelid = CAST(:t AS regclass) "
            "AND contype IN ('p', 'u')"
        ),
        {"t": q},
    ):
        op.execute(f'ALTER TABLE {q} DROP CONSTRAINT "{constraint}"')
    op.execute(f'ALTER TABLE {q} RENAME TO "{old}"')
    qold = f'"{schema}"."{old}"'
    op.execute(
        f"CREATE TABLE {q} (LIKE {qold} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
        f'INCLUDING STORAGE INCLUDING COMMENTS) PARTITION BY RANGE ("{column}")'
    )
    # The id sequence follows its column to the new parent (dropping the old table would
    # otherwise drop the sequence with it).
    op.execute(f'ALTER SEQUENCE "{schema}"."{table}_id_seq" OWNED BY {q}.id')
    op.execute(f'ALTER TABLE {q} ADD CONSTRAINT "pk_{table}" PRIMARY KEY ({", ".join(pk)})')
    for _old_name, (_before, after) in uniques.items():
        op.execute(
            f'ALTER TABLE {q} ADD CONSTRAINT "{_unique_name(table, after)}" '
            f"UNIQUE ({', '.join(after)})"
        )
    for name, columns in KEPT_UNIQUES.get(table, {}).items():
        op.execute(f'ALTER TABLE {q} ADD CONSTRAINT "{name}" UNIQUE ({", ".join(columns)})')
    for _name, definition in indexes:
        # "CREATE INDEX x ON schema.table USING ..." → on the parent (ONLY is not wanted:
        # the index is created on every partition, present and future).
        op.execute(definition)
    now = datetime.now(UTC).date().replace(day=1)
    first = now if span is None else min(span.astimezone(UTC).date().replace(day=1), now)
    last = _add_months(now, MONTHS_AHEAD)
    month = first
    while month <= last:
        name = f"{table}_p{month.year:04d}{month.month:02d}"
        op.execute(
            f'CREATE TABLE "{schema}"."{name}" PARTITION OF {q} '
            f"FOR VALUES FROM ({_bound(month)}) TO ({_bound(_add_months(month, 1))})"
        )
        month = _add_months(month, 1)
    op.execute(f'CREATE TABLE "{schema}"."{table}_default" PARTITION OF {q} DEFAULT')
    op.execute(f"INSERT INTO {q} SELECT * FROM {qold}")  # noqa: S608 - our own identifiers
    op.execute(f"DROP TABLE {qold}")
    op.execute(f"ANALYZE {q}")


def _sqlite_uniques(*, new: bool) -> None:
    for table, (_column, _pk, uniques) in TABLES.items():
        for old_name, (before, after) in uniques.items():
            with op.batch_alter_table(table) as batch:
                if new:
                    batch.drop_constraint(old_name, type_="unique")
                    batch.create_unique_constraint(_unique_name(table, after), list(after))
                else:
                    batch.drop_constraint(_unique_name(table, after), type_="unique")
                    batch.create_unique_constraint(old_name, list(before))


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        _sqlite_uniques(new=False)
        return
    schema = bind.execute(sa.text("SELECT current_schema()")).scalar_one()
    op.execute(
        "ALTER TABLE unit_positions DROP CONSTRAINT pk_unit_positions, "
        "ADD CONSTRAINT pk_unit_positions PRIMARY KEY (id)"
    )
    for table, (_column, _pk, uniques) in TABLES.items():
        q = f'"{schema}"."{table}"'
        old = f'"{schema}"."{table}_partitioned"'
        indexes = list(
            bind.execute(
                sa.text(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = :s "
                    "AND tablename = :t AND indexname NOT LIKE 'pk\\_%' "
                    "AND indexname NOT LIKE 'uq\\_%'"
                ),
                {"s": schema, "t": table},
            )
        )
        for name, _definition in indexes:
            op.execute(f'DROP INDEX "{schema}"."{name}"')
        for (constraint,) in bind.execute(
            sa.text(
                "SELECT conname FROM pg_constraint WHERE conrelid = CAST(:t AS regclass) "
                "AND contype IN ('p', 'u')"
            ),
            {"t": q},
        ):
            op.execute(f'ALTER TABLE {q} DROP CONSTRAINT "{constraint}"')
        op.execute(f'ALTER TABLE {q} RENAME TO "{table}_partitioned"')
        op.execute(
            f"CREATE TABLE {q} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
            "INCLUDING STORAGE INCLUDING COMMENTS)"
        )
        op.execute(f'ALTER SEQUENCE "{schema}"."{table}_id_seq" OWNED BY {q}.id')
        op.execute(f'ALTER TABLE {q} ADD CONSTRAINT "pk_{table}" PRIMARY KEY (id)')
        for old_name, (before, _after) in uniques.items():
            op.execute(f'ALTER TABLE {q} ADD CONSTRAINT "{old_name}" UNIQUE ({", ".join(before)})')
        for name, columns in KEPT_UNIQUES.get(table, {}).items():
            op.execute(f'ALTER TABLE {q} ADD CONSTRAINT "{name}" UNIQUE ({", ".join(columns)})')
        for _name, definition in indexes:
            op.execute(definition.replace(" ON ONLY ", " ON "))
        op.execute(f"INSERT INTO {q} SELECT * FROM {old}")  # noqa: S608 - our own identifiers
        op.execute(f"DROP TABLE {old} CASCADE")
