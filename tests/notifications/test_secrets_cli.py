"""Key rotation of stored webhook secrets: ``scanguard secrets re-encrypt`` after a new key is
put in front of SCANGUARD_SECRETS_KEY; afterwards the old key can go."""

from __future__ import annotations

import asyncio
import base64
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from admin_api.cli import main
from admin_api.notifications import services
from admin_api.notifications.models import WebhookSubscription
from kernel.db import create_engine, create_session_factory
from kernel.secretbox import SecretBox, SecretDecryptionError
from kernel.settings import Settings
from kernel.uow import session_scope
from tests.factories.cli import cli_settings

OLD, NEW, OTHER = (base64.urlsafe_b64encode(bytes([b]) * 32).decode() for b in (1, 2, 3))


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    return cli_settings(monkeypatch, tmp_path, SECRETS_KEY=OLD)


async def _create(settings: Settings) -> str:
    engine = create_engine(settings, nullpool=True)
    try:
        async with session_scope(create_session_factory(engine)) as session:
            _, secret = await services.create_subscription(
                session,
                None,
                uuid.uuid4(),
                url="https://hooks.example.com/x",
                event_types=["*"],
                policy=services.WebhookPolicy.from_settings(settings),
            )
    finally:
        await engine.dispose()
    return secret


async def _stored(settings: Settings) -> str:
    engine = create_engine(settings, nullpool=True)
    try:
        async with create_session_factory(engine)() as session:
            value = await session.scalar(select(WebhookSubscription.secret))
    finally:
        await engine.dispose()
    assert value is not None
    return value


def test_rotation_re_encrypts_under_the_new_key_then_the_old_key_can_go(
    cli_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = asyncio.run(_create(cli_env))
    before = asyncio.run(_stored(cli_env))
    assert SecretBox((OLD,)).decrypt(before) == secret

    monkeypatch.setenv("SCANGUARD_SECRETS_KEY", f"{NEW},{OLD}")
    result = CliRunner().invoke(main, ["secrets", "re-encrypt"])
    assert result.exit_code == 0, result.output
    assert "re-encrypted 1 webhook secret" in result.output
    after = asyncio.run(_stored(cli_env))
    assert after != before
    assert SecretBox((NEW,)).decrypt(after) == secret  # the old key is no longer needed
    with pytest.raises(SecretDecryptionError):
        SecretBox((OLD,)).decrypt(after)

    monkeypatch.setenv("SCANGUARD_SECRETS_KEY", OTHER)  # the right key was dropped too early
    refused = CliRunner().invoke(main, ["secrets", "re-encrypt"])
    assert refused.exit_code == 1
    assert "no longer has" in refused.output
    assert asyncio.run(_stored(cli_env)) == after  # nothing changed


def test_generate_key_prints_a_usable_key() -> None:
    result = CliRunner().invoke(main, ["secrets", "generate-key"])
    assert result.exit_code == 0
    box = SecretBox((result.output.strip(),))
    assert box.decrypt(box.encrypt("whsec_x")) == "whsec_x"
