"""``scanguard loyalty expire-points`` and ``scanguard loyalty payouts`` on a migrated SQLite
file (the CLI runs its own event loop, so these tests are synchronous)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from admin_api.cli import main
from anticounterfeit.catalogue.services import get_brand_by_slug
from kernel.db import create_engine, create_session_factory, utcnow
from kernel.settings import Settings
from kernel.uow import session_scope
from loyalty import identity
from loyalty.rewards import adjust, queue_payout
from tests.factories.cli import cli_settings
from tests.support.payment_server import FakePayments


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    settings = cli_settings(monkeypatch, tmp_path)
    result = CliRunner().invoke(main, ["brands", "create", "--slug", "acme", "--name", "Acme"])
    assert result.exit_code == 0, result.output
    return settings


def _seed(settings: Settings, *, expired_points: int, payouts: int) -> None:
    async def job() -> None:
        engine = create_engine(settings, nullpool=True)
        try:
            factory = create_session_factory(engine)
            async with session_scope(factory) as session:
                brand = await get_brand_by_slug(session, "acme")
                consumer = await identity.consumer_by_openid(session, "o-cli")
                await adjust(
                    session,
                    brand_id=brand.id,
                    consumer_id=consumer.id,
                    points=expired_points,
                    note="old",
                    client_key="cli-old-points",
                    expires_at=utcnow() - timedelta(days=1),
                )
                for _ in range(payouts):
                    await queue_payout(
                        session,
                        brand_id=brand.id,
                        consumer_id=consumer.id,
                        amount_cents=120,
                        source_type="draw",
                        source_id=uuid.uuid4(),
                    )
        finally:
            await engine.dispose()

    asyncio.run(job())


def test_expire_points_command(cli_env: Settings) -> None:
    _seed(cli_env, expired_points=12, payouts=0)
    runner = CliRunner()
    first = runner.invoke(main, ["loyalty", "expire-points", "--brand", "acme"])
    assert first.exit_code == 0, first.output
    assert "acme: 12 points expired in 1 accounts" in first.output
    again = runner.invoke(main, ["loyalty", "expire-points"])
    assert "acme: 0 points expired in 0 accounts" in again.output
    missing = runner.invoke(main, ["loyalty", "expire-points", "--brand", "nope"])
    assert missing.exit_code == 1


def test_payouts_command(cli_env: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    _seed(cli_env, expired_points=1, payouts=3)
    runner = CliRunner()
    unset = runner.invoke(main, ["loyalty", "payouts", "--once"])
    assert unset.exit_code == 1
    assert "PAYOUT_API_BASE_URL" in unset.output
    with FakePayments() as payments:
        monkeypatch.setenv("SCANGUARD_PAYOUT_API_BASE_URL", payments.base_url)
        sent = runner.invoke(main, ["loyalty", "payouts", "--once"])
        assert sent.exit_code == 0, sent.output
        assert "sent 3, retrying 0, failed 0" in sent.output
        assert len(payments.paid) == 3
        again = runner.invoke(main, ["loyalty", "payouts", "--once"])
        assert "sent 0" in again.output
