"""CLI commands for users and brands (``scanguard admin ...``, ``scanguard brands ...``)."""

from __future__ import annotations

import click

__all__ = ["admin_group", "brands_group"]


@click.group("admin")
def admin_group() -> None:
    """Manage admin API users."""


@click.group("brands")
def brands_group() -> None:
    """Manage brands (tenants) and their code keys."""
