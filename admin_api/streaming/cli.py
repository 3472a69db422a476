"""``scanguard stream ...``: run the JetStream publisher, show where its cursors stand."""

from __future__ import annotations

import click
from nats.errors import Error as NatsError

from kernel.settings import ConfigurationError, Settings

__all__ = ["stream_group"]


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group("stream")
def stream_group() -> None:
    """The scan event stream to NATS JetStream (docs/streaming.md)."""


@stream_group.command("run")
@click.option("--once", is_flag=True, help="Publish until nothing is left, then exit.")
def run(once: bool) -> None:
    """Publish scans and outbox events (alerts, recalls, claims) to the stream.

    Creates or updates the stream first (SCANGUARD_NATS_*). SIGTERM/SIGINT stop it after the
    batch in flight is acknowledged and its cursor committed; a killed publisher re-sends at
    most one batch per source, which JetStream de-duplicates.
    """
    from admin_api.streaming.worker import run_stream
    from kernel.logging import configure_logging
    from kernel.runtime import run_job

    settings = _settings()
    configure_logging(settings)
    stream = settings.stream
    click.echo(
        f"stream: publishing to {stream.stream_name} ({stream.subject_prefix}.>) at {stream.url}"
    )
    try:
        stats = run_job(settings, lambda rt: run_stream(rt, once=once))
    except (NatsError, OSError) as exc:  # at start: no server, or JetStream not enabled
        raise click.ClickException(f"NATS at {stream.url}: {exc!r}") from exc
    click.echo(f"stream stopped: {stats}")


@stream_group.command("status")
def status() -> None:
    """Each source's cursor: position, ids awaited, messages published."""
    from admin_api.streaming.services import cursor_rows
    from kernel.runtime import run_job

    settings = _settings()
    rows = run_job(settings, lambda rt: cursor_rows(rt, settings.stream.stream_name))
    if not rows:
        click.echo(f"no cursor for {settings.stream.stream_name} yet")
    for source, position, awaited, published in rows:
        click.echo(f"{source}: position {position}, awaiting {awaited}, published {published}")
