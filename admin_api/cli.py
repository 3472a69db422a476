"""The ``scanguard`` command line: one entry point for serving, migrating and operating."""

from __future__ import annotations

import sys

import click

from admin_api.commands import admin_group, brands_group, secrets_group
from admin_api.partitions_cli import partitions_group
from admin_api.streaming.cli import stream_group
from anticounterfeit.codes.cli import codes_group
from kernel.settings import ConfigurationError, Settings
from loyalty.cli import loyalty_group

__all__ = ["main"]


def load_settings() -> Settings:
    """Settings from the environment; one that cannot run is a clear error (exit 1)."""
    try:
        return Settings.from_env()
    except ConfigurationError as exc:
        raise click.ClickException(f"cannot start: {exc}") from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """scanguard: one item, one code. Settings come from SCANGUARD_* environment variables."""


@main.command()
@click.option("--revision", default="heads", show_default=True)
def migrate(revision: str) -> None:
    """Create or upgrade the database schema (Alembic)."""
    from kernel.migrate import upgrade

    settings = load_settings()
    upgrade(settings, revision)
    click.echo(f"database at {_safe_url(settings.database.url)} is at revision {revision}")


@main.command()
@click.option("-m", "--message", required=True, help="What the migration does.")
@click.option("--rev-id", required=True, help="Revision id, e.g. 0004.")
@click.option("--head", "head", default="heads", show_default=True, help="Parent revision.")
def makemigration(message: str, rev_id: str, head: str) -> None:
    """Write a new migration from the difference between the models and the migrations.

    Runs against a scratch SQLite database brought to the current heads; review the file
    (autogenerate misses some changes) before committing it.
    """
    import tempfile
    from pathlib import Path

    from alembic import command

    from admin_api.schema import all_metadata
    from kernel.migrate import alembic_config, upgrade

    settings = load_settings()
    with tempfile.TemporaryDirectory() as tmp:
        scratch = settings.with_overrides(
            database={"url": f"sqlite+aiosqlite:///{Path(tmp) / 'scratch.db'}", "search_path": None}
        )
        upgrade(scratch)
        command.revision(
            alembic_config(scratch, all_metadata()),
            message=message,
            autogenerate=True,
            rev_id=rev_id,
            head=head,
            splice=head != "heads",  # each domain branches off a shared base revision
        )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
@click.option("--with-demo-banner", is_flag=True, help="Print demo logins and scan URLs first.")
@click.option(
    "--with-worker", is_flag=True, help="Also run the notification worker in the server process."
)
def serve(host: str, port: int, workers: int, with_demo_banner: bool, with_worker: bool) -> None:
    """Run the HTTP server (scan gateway + admin API)."""
    import os

    import uvicorn

    if with_worker:  # read by Settings.from_env in the server process(es)
        os.environ["SCANGUARD_NOTIFICATION_WORKER"] = "1"
    os.environ["SCANGUARD_SERVER_WORKERS"] = str(workers)  # the in-process scan limits' share
    settings = load_settings()
    if workers > 1 and (settings.redis.is_embedded or settings.database.is_sqlite):
        raise click.ClickException(
            "several workers need a shared Redis and PostgreSQL "
            "(set SCANGUARD_REDIS_URL and SCANGUARD_DATABASE_URL)"
        )
    if with_demo_banner:
        from admin_api.demo import print_banner

        print_banner(settings, host, port)
    uvicorn.run(
        "admin_api.asgi:app",
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log.level.lower(),
        access_log=False,
        proxy_headers=False,  # the gateway decides client IPs itself (kernel.http.client_ip)
        server_header=False,
    )


@main.command()
@click.option("--concurrency", default=16, show_default=True, type=click.IntRange(1, 256))
@click.option("--batch-size", default=100, show_default=True, type=click.IntRange(1, 1000))
@click.option("--once", is_flag=True, help="Work until nothing is due, then exit.")
def worker(concurrency: int, batch_size: int, once: bool) -> None:
    """Run the notification delivery worker (outbox → webhooks, inboxes, WeChat).

    SIGTERM/SIGINT stop it after the deliveries in flight. Several workers may run on
    PostgreSQL (rows are claimed with SKIP LOCKED); on SQLite run one.
    """
    from admin_api.notifications.runner import run_worker
    from kernel.runtime import run_job

    settings = load_settings()
    stats = run_job(
        settings,
        lambda rt: run_worker(rt, concurrency=concurrency, batch_size=batch_size, once=once),
    )
    click.echo(f"worker stopped: {stats}")


@main.command()
def demo() -> None:
    """Seed the demo brand, users, products and codes (idempotent)."""
    from admin_api.demo import seed_demo

    seed_demo(load_settings())


main.add_command(admin_group)
main.add_command(brands_group)
main.add_command(codes_group)
main.add_command(loyalty_group)
main.add_command(secrets_group)
main.add_command(stream_group)
main.add_command(partitions_group)


def _safe_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':')[0]}:***@{host}" if ":" in creds else url
    return url


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
