"""``scanguard loyalty ...``: points expiry and the payout worker (for a scheduler / a service)."""

from __future__ import annotations

import asyncio

import click

from gateway.catalogue import brand_slugs
from kernel.db import utcnow
from kernel.runtime import Runtime, run_job
from kernel.settings import ConfigurationError, Settings
from kernel.uow import session_scope
from loyalty.payouts import PayoutWorker
from loyalty.rewards import expire_points

__all__ = ["loyalty_group"]


def _load_settings() -> Settings:
    # Same rule as admin_api.cli.load_settings (importing it here would be a cycle).
    try:
        return Settings.from_env()
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group("loyalty")
def loyalty_group() -> None:
    """Loyalty operations: points expiry, cash payouts."""


@loyalty_group.command("expire-points")
@click.option("--brand", "slug", default=None, help="Brand slug (default: every brand).")
def expire_points_command(slug: str | None) -> None:
    """Expire points past their expiry date (oldest first); safe to run repeatedly."""

    async def job(runtime: Runtime) -> list[tuple[str, int, int]]:
        results = []
        async with runtime.session_factory() as session:
            brands = await brand_slugs(session, slug)
        if slug and not brands:
            raise click.ClickException(f"no brand {slug!r}")
        for brand_id, brand_slug in brands:
            async with session_scope(runtime.session_factory) as session:
                accounts, points = await expire_points(session, brand_id, utcnow())
            results.append((brand_slug, accounts, points))
        return results

    for brand_slug, accounts, points in run_job(_load_settings(), job):
        click.echo(f"{brand_slug}: {points} points expired in {accounts} accounts")


@loyalty_group.command("payouts")
@click.option("--once", is_flag=True, help="One pass over due payouts, then exit.")
@click.option("--poll", default=1.0, show_default=True, help="Seconds between idle passes.")
def payouts_command(once: bool, poll: float) -> None:
    """Send queued cash payouts to the payment platform (rate-limited, idempotent)."""
    settings = _load_settings()
    if not settings.loyalty.payout_api_base_url:
        raise click.ClickException("set SCANGUARD_PAYOUT_API_BASE_URL")

    async def job(runtime: Runtime) -> None:
        worker = PayoutWorker(runtime)
        try:
            if once:
                run = await worker.run_once()
                click.echo(f"sent {run.sent}, retrying {run.retried}, failed {run.failed}")
            else:
                await worker.run(poll_s=poll)
        except asyncio.CancelledError:  # Ctrl-C
            pass
        finally:
            await worker.aclose()

    run_job(settings, job)
