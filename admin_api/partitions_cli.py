"""``scanguard partitions ensure|list|retire``: the append tables' month partitions by hand.

The worker does the same every hour (``SCANGUARD_PARTITION_WORKER_INTERVAL_S``); these are for
a first deployment, an operator who wants to see what is there, and retention run on demand.
On SQLite there are no partitions and each command says so.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click

from kernel.partitions import (
    PartitionInfo,
    RetiredPartition,
    ensure_partitions,
    export_dir,
    list_partitions,
    retire_partitions,
)
from kernel.runtime import Runtime, run_job
from kernel.settings import ConfigurationError, Settings

__all__ = ["partitions_group"]


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc


def _echo(line: str) -> None:
    click.echo(line)


def _sqlite(settings: Settings) -> bool:
    if settings.database.is_sqlite:
        click.echo("SQLite: the append tables are plain tables, there are no partitions")
        return True
    return False


@click.group("partitions")
def partitions_group() -> None:
    """Month partitions of the append tables on PostgreSQL (scans, signals, outbox...)."""


@partitions_group.command("ensure")
@click.option("--months-ahead", type=int, default=None, help="Default: the setting (3).")
def ensure(months_ahead: int | None) -> None:
    """Create the month partitions from this month to N months ahead that are missing."""
    settings = _settings()
    if _sqlite(settings):
        return
    ahead = months_ahead if months_ahead is not None else settings.partitions.months_ahead

    async def job(rt: Runtime) -> list[str]:
        async with rt.engine.begin() as conn:
            return await ensure_partitions(
                conn, now=datetime.now(UTC), months_ahead=ahead, progress=_echo
            )

    created = run_job(settings, job)
    click.echo(f"{len(created)} partitions created, {ahead} months ahead covered")


@partitions_group.command("list")
def list_command() -> None:
    """Every partition with its range, estimated rows and size on disk."""
    settings = _settings()
    if _sqlite(settings):
        return

    async def job(rt: Runtime) -> list[PartitionInfo]:
        async with rt.engine.connect() as conn:
            return await list_partitions(conn)

    for part in run_job(settings, job):
        span = (
            f"{part.lower:%Y-%m-%d} .. {part.upper:%Y-%m-%d}"
            if part.lower and part.upper
            else "default"
        )
        rows = "?" if part.rows < 0 else str(part.rows)
        click.echo(
            f"{part.table:32} {part.partition:44} {span:24} ~{rows:>10} rows "
            f"{part.bytes / 1_048_576:10.1f} MiB"
        )


@partitions_group.command("retire")
@click.option("--dry-run", is_flag=True, help="Show what would be retired; change nothing.")
def retire(dry_run: bool) -> None:
    """Detach and drop (or export, then drop) partitions older than each table's retention
    (SCANGUARD_PARTITION_RETENTION)."""
    settings = _settings()
    if _sqlite(settings):
        return
    policies = settings.partitions.policies
    for table, policy in policies.items():
        keep = f"{policy.months} months" if policy.months else "forever"
        click.echo(f"{table}: keep {keep}{', export before drop' if policy.export else ''}")

    async def job(rt: Runtime) -> list[RetiredPartition]:
        async with rt.engine.begin() as conn:
            return await retire_partitions(
                conn,
                now=datetime.now(UTC),
                retention=policies,
                export_dir=export_dir(settings),
                dry_run=dry_run,
                progress=_echo,
            )

    retired = run_job(settings, job)
    verb = "would be retired" if dry_run else "retired"
    click.echo(f"{len(retired)} partitions {verb}")
