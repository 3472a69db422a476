"""structlog set-up: key-value logs for humans in development, JSON lines in production."""

from __future__ import annotations

import logging

import structlog

from kernel.settings import Settings

__all__ = ["configure_logging"]


def configure_logging(settings: Settings) -> None:
    level = logging.getLevelNamesMapping().get(settings.log.level.upper(), logging.INFO)
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if settings.log.json_lines
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # Per-request client chatter (httpx in the demo seeder and tests) is noise at INFO.
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))
