"""CLI commands for code rolls (``scanguard codes ...``).

``issue`` creates the roll through the same service as the admin API, then writes the print
file with the parallel exporter, reporting progress on stderr. If the export fails after the
roll was committed, the roll stays (its indexes are spent) and ``codes export`` re-creates the
identical file. Commands act as the system (audit actor ``system``).
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import click
from sqlalchemy.ext.asyncio import AsyncSession

from anticounterfeit.codes import services as rolls
from anticounterfeit.codes.export import write_export_file
from anticounterfeit.codes.format import Keyring
from anticounterfeit.codes.metadata import CodeMetadataService
from anticounterfeit.codes.models import CodeRoll
from kernel.errors import DomainError, NotFound
from kernel.runtime import Runtime, run_job
from kernel.settings import ConfigurationError, Settings

__all__ = ["codes_group"]


def _load_settings() -> Settings:
    # Same rule as admin_api.cli.load_settings (importing it here would be a cycle).
    try:
        return Settings.from_env()
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc


def _fail(exc: DomainError) -> click.ClickException:
    where = f" ({exc.field})" if exc.field else ""
    return click.ClickException(f"{exc.code}{where}: {exc.detail}")


class Progress:
    """``progress(done, total)`` callback: one stderr line at most every ``interval_s``."""

    def __init__(self, label: str, interval_s: float = 0.5) -> None:
        self.label = label
        self.interval_s = interval_s
        self.started = time.monotonic()
        self.last = 0.0
        self.tty = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.last < self.interval_s:
            return
        self.last = now
        elapsed = max(now - self.started, 1e-9)
        rate = done / elapsed
        eta = timedelta(seconds=round((total - done) / rate)) if rate > 0 else "?"
        pct = 100.0 * done / total if total else 100.0
        line = (
            f"{self.label}: {done:,}/{total:,} codes ({pct:5.1f}%) {rate:,.0f} codes/s, ETA {eta}"
        )
        end = "\n" if done >= total or not self.tty else ""
        click.echo(("\r" if self.tty else "") + line, err=True, nl=False)
        if end:
            click.echo("", err=True)


@dataclass(frozen=True, slots=True)
class _Issued:
    roll_id: uuid.UUID
    plan: rolls.ExportPlan


async def _roll(session: AsyncSession, roll_id: uuid.UUID) -> CodeRoll:
    roll = await session.get(CodeRoll, roll_id)
    if roll is None:
        raise NotFound(f"no roll {roll_id}", code="unknown_roll", field="roll")
    return roll


def _write(plan: rolls.ExportPlan, out: Path, workers: int | None) -> None:
    """Write the export, then a summary line; on failure explain how to re-export."""
    started = time.monotonic()
    try:
        written = write_export_file(
            out,
            plan.key,
            plan.gtin14,
            plan.roll_first_index,
            plan.count,
            resolver_base_url=plan.resolver_base_url,
            lot=plan.lot,
            pin_length=plan.pin_length,
            workers=workers,
            progress=Progress("export"),
        )
    except (OSError, RuntimeError, KeyboardInterrupt) as exc:
        click.echo(
            f"export of roll {plan.roll_id} failed: {exc!r}. The roll exists; re-export with:\n"
            f"  scanguard codes export --roll {plan.roll_id} --out {out}",
            err=True,
        )
        raise SystemExit(1) from exc
    seconds = time.monotonic() - started
    click.echo(
        f"roll {plan.roll_id}: {written:,} codes written to {out} in {seconds:.2f} s "
        f"({written / max(seconds, 1e-9):,.0f} codes/s)"
    )


@click.group("codes")
def codes_group() -> None:
    """Issue, export, activate and void codes."""


@codes_group.command("issue")
@click.option("--product", "gtin", required=True, help="GTIN of the product (8, 12, 13 or 14).")
@click.option("--count", type=click.IntRange(1, rolls.MAX_ROLL_COUNT), required=True)
@click.option("--batch", "lot", default=None, help="Lot of a batch of the product to bind.")
@click.option("--activate", is_flag=True, help="Activate the whole roll at once.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--brand", "brand_slug", default=None, help="Check that the product is this brand's.")
@click.option("--workers", type=click.IntRange(1, 256), default=None, help="Export processes.")
@click.option("--note", default=None, help="Free text kept on the roll.")
def issue(
    gtin: str,
    count: int,
    lot: str | None,
    activate: bool,
    out: Path,
    brand_slug: str | None,
    workers: int | None,
    note: str | None,
) -> None:
    """Create a roll of COUNT codes for a product and write its print file to OUT."""
    settings = _load_settings()
    keyring = Keyring.from_mapping(settings.auth.code_keyring)
    if not out.parent.is_dir():
        raise click.BadParameter(f"directory {out.parent} does not exist", param_hint="--out")

    async def job(rt: Runtime) -> _Issued:
        async with rt.session_factory() as session:
            product, brand = await rolls.product_of_gtin(session, gtin)
            if brand_slug is not None and brand.slug != brand_slug:
                raise click.ClickException(
                    f"product {product.gtin} belongs to brand {brand.slug!r}, not {brand_slug!r}"
                )
            result = await rolls.issue_roll_and_commit(
                session,
                keyring,
                None,
                brand.id,
                rolls.IssueRequest(
                    count=count, product_id=product.id, lot=lot, activate=activate, note=note
                ),
            )
            plan = await rolls.plan_export(
                session,
                keyring,
                None,
                result.roll,
                resolver_base_url=settings.gateway.resolver_base_url,
            )
            await session.commit()
            return _Issued(result.roll.id, plan)

    try:
        issued = run_job(settings, job)
    except DomainError as exc:
        raise _fail(exc) from exc
    click.echo(
        f"roll {issued.roll_id} created: {count:,} codes of {issued.plan.gtin14}"
        + (", active" if activate else ", inactive"),
        err=True,
    )
    _write(issued.plan, out, workers)


@codes_group.command("export")
@click.option("--roll", "roll_id", type=click.UUID, required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--workers", type=click.IntRange(1, 256), default=None, help="Export processes.")
def export(roll_id: uuid.UUID, out: Path, workers: int | None) -> None:
    """Write the print file of an existing roll (byte-identical to the one made at issue)."""
    settings = _load_settings()
    keyring = Keyring.from_mapping(settings.auth.code_keyring)

    async def job(rt: Runtime) -> rolls.ExportPlan:
        async with rt.session_factory() as session:
            roll = await _roll(session, roll_id)
            plan = await rolls.plan_export(
                session, keyring, None, roll, resolver_base_url=settings.gateway.resolver_base_url
            )
            await session.commit()
            return plan

    try:
        plan = run_job(settings, job)
    except DomainError as exc:
        raise _fail(exc) from exc
    _write(plan, out, workers)


Apply = Callable[[AsyncSession, CodeRoll], Awaitable[tuple[int, int]]]


def _change(settings: Settings, roll_id: uuid.UUID, action: str, apply: Apply) -> str:
    async def job(rt: Runtime) -> str:
        async with rt.session_factory() as session:
            roll = await _roll(session, roll_id)
            lo, hi = await apply(session, roll)
            state = await rolls.roll_state(session, roll)
            await session.commit()
        # After the commit: servers drop their cached copy (Redis pub/sub).
        await CodeMetadataService(rt).invalidate(roll_id)
        counts = ", ".join(f"{k} {v:,}" for k, v in state.counts.items())
        return f"roll {roll_id}: {action} [{lo}, {hi}) done; now {counts}"

    try:
        return run_job(settings, job)
    except DomainError as exc:
        raise _fail(exc) from exc


@codes_group.command("activate")
@click.option("--roll", "roll_id", type=click.UUID, required=True)
@click.option("--from", "seq_from", type=click.IntRange(0), default=None, help="First seq.")
@click.option("--to", "seq_to", type=click.IntRange(1), default=None, help="End seq (exclusive).")
def activate(roll_id: uuid.UUID, seq_from: int | None, seq_to: int | None) -> None:
    """Activate codes [FROM, TO) of a roll (the whole roll by default)."""

    async def apply(session: AsyncSession, roll: CodeRoll) -> tuple[int, int]:
        return await rolls.activate_range(session, None, roll, seq_from, seq_to)

    click.echo(_change(_load_settings(), roll_id, "activate", apply))


@codes_group.command("void")
@click.option("--roll", "roll_id", type=click.UUID, required=True)
@click.option("--from", "seq_from", type=click.IntRange(0), required=True, help="First seq.")
@click.option("--to", "seq_to", type=click.IntRange(1), required=True, help="End seq (exclusive).")
@click.option("--reason", required=True, help="Why (kept with the codes, max 500 chars).")
def void(roll_id: uuid.UUID, seq_from: int, seq_to: int, reason: str) -> None:
    """Void codes [FROM, TO) of a roll. Final: they never become active again."""

    async def apply(session: AsyncSession, roll: CodeRoll) -> tuple[int, int]:
        return await rolls.void_range(session, None, roll, seq_from, seq_to, reason)

    click.echo(_change(_load_settings(), roll_id, "void", apply))
