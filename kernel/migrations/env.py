"""Alembic environment: async engine from scanguard Settings, SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection

from kernel.db import UTCDateTime, create_engine
from kernel.partitions import include_in_autogenerate
from kernel.settings import Settings

config = context.config
settings: Settings = config.attributes.get("settings") or Settings.from_env()
# Only autogenerate needs the models; upgrades run the explicit operations in versions/.
target_metadata: Any = config.attributes.get("target_metadata")


def _render_item(kind: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    # Migrations must not import application code: our UTCDateTime is a plain timestamptz.
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_item=_render_item,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER in place
        compare_type=True,
        include_name=include_in_autogenerate,  # month partitions are not model tables
    )
    with context.begin_transaction():
        context.run_migrations()


async def _main() -> None:
    engine = create_engine(settings, nullpool=True)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `scanguard migrate`")
asyncio.run(_main()) if not config.attributes.get("in_event_loop") else None
