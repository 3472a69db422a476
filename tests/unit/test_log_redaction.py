"""Logs never carry secrets: fields named like secrets are masked, SQL parameters hidden."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from kernel.db import create_engine
from kernel.logging import redact_secrets
from kernel.settings import Settings


def test_fields_named_like_secrets_are_masked() -> None:
    event = redact_secrets(
        None,
        "info",
        {"event": "x", "secret": "whsec_a", "jwt_token": "t", "Authorization": "b", "n": 1},
    )
    assert event == {
        "event": "x",
        "secret": "***",
        "jwt_token": "***",
        "Authorization": "***",
        "n": 1,
    }


async def test_sql_errors_do_not_show_statement_parameters(tmp_path: object) -> None:
    settings = Settings(env="test", database={"url": f"sqlite+aiosqlite:///{tmp_path}/x.db"})
    engine = create_engine(settings, nullpool=True)
    try:
        async with engine.connect() as connection:
            with pytest.raises(DBAPIError) as caught:
                await connection.execute(
                    text("INSERT INTO missing_table VALUES (:secret)"), {"secret": "whsec_leak"}
                )
    finally:
        await engine.dispose()
    assert "whsec_leak" not in str(caught.value)
    assert "hidden" in str(caught.value)
