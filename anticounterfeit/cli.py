"""CLI commands for code rolls (``scanguard codes ...``)."""

from __future__ import annotations

import click

__all__ = ["codes_group"]


@click.group("codes")
def codes_group() -> None:
    """Issue, export, activate and void codes."""
