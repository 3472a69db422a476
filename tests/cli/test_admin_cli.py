"""``scanguard admin create-user`` and ``scanguard brands ...`` against a migrated SQLite file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from admin_api.cli import main
from kernel.accounts import User
from kernel.auth import verify_password
from kernel.db import create_engine, create_session_factory
from kernel.settings import Settings
from tests.factories.cli import cli_settings


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    return cli_settings(monkeypatch, tmp_path, code_key_ids=(7, 3))


def _user(settings: Settings, username: str) -> User | None:
    async def fetch() -> User | None:
        engine = create_engine(settings, nullpool=True)
        try:
            async with create_session_factory(engine)() as session:
                return (
                    await session.execute(select(User).where(User.username == username))
                ).scalar_one_or_none()
        finally:
            await engine.dispose()

    return asyncio.run(fetch())


def test_create_brand_and_users(cli_env: Settings) -> None:
    runner = CliRunner()
    brand = runner.invoke(main, ["brands", "create", "--slug", "acme", "--name", "Acme"])
    assert brand.exit_code == 0, brand.output
    assert "code key id=3" in brand.output  # the smallest configured kid
    again = runner.invoke(main, ["brands", "create", "--slug", "acme", "--name", "Acme"])
    assert again.exit_code == 1
    assert "slug_taken" in again.output

    admin = runner.invoke(
        main,
        [
            "admin",
            "create-user",
            "--username",
            "root",
            "--role",
            "platform_admin",
            "--password-stdin",
        ],
        input="a very long password\n",
    )
    assert admin.exit_code == 0, admin.output
    user = _user(cli_env, "root")
    assert user is not None
    assert user.brand_id is None
    assert verify_password(user.password_hash, "a very long password")

    prompted = runner.invoke(
        main,
        [
            "admin",
            "create-user",
            "--username",
            "acme-admin",
            "--role",
            "brand_admin",
            "--brand",
            "acme",
        ],
        input="another long password\nanother long password\n",
    )
    assert prompted.exit_code == 0, prompted.output
    assert "another long password" not in prompted.output  # hidden prompt
    acme_admin = _user(cli_env, "acme-admin")
    assert acme_admin is not None
    assert acme_admin.brand_id is not None

    rotated = runner.invoke(main, ["brands", "rotate-key", "--slug", "acme"])
    assert rotated.exit_code == 0, rotated.output
    assert "retired key id 3, active key id 7" in rotated.output


def test_create_user_errors(cli_env: Settings) -> None:
    runner = CliRunner()
    args = ["admin", "create-user", "--username", "dup", "--role", "platform_admin"]
    first = runner.invoke(main, [*args, "--password-stdin"], input="a very long password\n")
    assert first.exit_code == 0, first.output
    dup = runner.invoke(main, [*args, "--password-stdin"], input="a very long password\n")
    assert dup.exit_code == 1
    assert "username_taken" in dup.output
    weak = runner.invoke(
        main,
        [
            "admin",
            "create-user",
            "--username",
            "weak",
            "--role",
            "platform_admin",
            "--password-stdin",
        ],
        input="short\n",
    )
    assert weak.exit_code == 1
    assert "at least 12" in weak.output
    assert _user(cli_env, "weak") is None
    no_brand = runner.invoke(
        main,
        ["admin", "create-user", "--username", "nb", "--role", "brand_viewer", "--password-stdin"],
        input="a very long password\n",
    )
    assert no_brand.exit_code == 1
    assert "brand_required" in no_brand.output
    unknown = runner.invoke(
        main,
        [
            "admin",
            "create-user",
            "--username",
            "ub",
            "--role",
            "brand_viewer",
            "--brand",
            "nope",
            "--password-stdin",
        ],
        input="a very long password\n",
    )
    assert unknown.exit_code == 1
    assert "brand_not_found" in unknown.output
    # the password option does not exist: passwords never go on argv
    argv = runner.invoke(main, [*args, "--password", "a very long password"])
    assert argv.exit_code == 2
