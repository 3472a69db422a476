"""Migration 0012b encrypts the webhook secrets an older version stored in clear (and its
downgrade decrypts them), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import text

from kernel.db import create_engine
from kernel.migrate import alembic_config, upgrade_async
from kernel.secretbox import ENCRYPTED_PREFIX, SecretBox
from kernel.settings import Settings
from tests.conftest import base_settings

PLAINTEXT = "whsec_stored-in-clear-by-an-older-version"
# The table as revision 0008 made it (the test writes the row an older version wrote).
_OLD_TABLE = sa.table(
    "webhook_subscriptions",
    *(
        sa.column(name, type_)
        for name, type_ in (
            ("id", sa.Uuid()),
            ("brand_id", sa.Uuid()),
            ("url", sa.String()),
            ("event_types", sa.JSON()),
            ("description", sa.String()),
            ("secret", sa.String()),
            ("active", sa.Boolean()),
            ("created_at", sa.DateTime(timezone=True)),
            ("updated_at", sa.DateTime(timezone=True)),
        )
    ),
)


@pytest.fixture(params=["embedded", "services"])
async def scratch(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Settings]:
    """An empty database of the backend, migrated by the test itself."""
    if request.param == "embedded":
        yield base_settings(database={"url": f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"})
        return
    url, _ = request.getfixturevalue("postgres_schema")  # skips (or fails) like the suite
    schema = f"sgmig_{uuid.uuid4().hex[:10]}"
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        yield base_settings(database={"url": url, "search_path": schema})
    finally:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()


async def _secret(settings: Settings) -> str:
    engine = create_engine(settings, nullpool=True)
    try:
        async with engine.connect() as connection:
            value = await connection.scalar(text("SELECT secret FROM webhook_subscriptions"))
    finally:
        await engine.dispose()
    assert isinstance(value, str)
    return value


async def test_upgrade_encrypts_plaintext_secrets_and_downgrade_restores_them(
    scratch: Settings,
) -> None:
    await upgrade_async(scratch, "0011")
    await upgrade_async(scratch, "0008")  # the notifications branch: the table, no 0012b yet
    engine = create_engine(scratch, nullpool=True)
    now = datetime.now(UTC)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                _OLD_TABLE.insert().values(
                    id=uuid.uuid4(),
                    brand_id=uuid.uuid4(),
                    url="https://hooks.example.com",
                    event_types=["*"],
                    description="",
                    secret=PLAINTEXT,
                    active=True,
                    created_at=now,
                    updated_at=now,
                )
            )
    finally:
        await engine.dispose()

    await upgrade_async(scratch, "heads")
    stored = await _secret(scratch)
    assert stored.startswith(ENCRYPTED_PREFIX)
    assert PLAINTEXT not in stored
    assert SecretBox.from_settings(scratch).decrypt(stored) == PLAINTEXT

    await asyncio.to_thread(command.downgrade, alembic_config(scratch), "0011")
    assert await _secret(scratch) == PLAINTEXT
