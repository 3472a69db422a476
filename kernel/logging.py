"""structlog set-up: key-value logs for humans in development, JSON lines in production."""

from __future__ import annotations

import logging

import structlog

from kernel.settings import Settings

__all__ = ["SECRET_KEY_PARTS", "configure_logging", "redact_secrets"]

#: A log field whose name contains one of these is masked, whatever code logged it.
SECRET_KEY_PARTS = ("secret", "password", "token", "authorization", "api_key", "cookie")
MASK = "***"


def redact_secrets(
    _logger: object, _method: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """Mask values of fields named like secrets (one place, not every call site)."""
    for key in event_dict:
        if key != "event" and any(part in key.lower() for part in SECRET_KEY_PARTS):
            event_dict[key] = MASK
    return event_dict


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
            redact_secrets,
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
