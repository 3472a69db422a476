"""The real server process: without SCANGUARD_ENV it is production and refuses to start
without its secrets (a message naming them, no traceback); development is chosen explicitly
and then starts with generated secrets."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

SECRETS = ("SCANGUARD_JWT_SECRET", "SCANGUARD_CODE_KEYS", "SCANGUARD_SECRETS_KEY")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANGUARD_")}
    env.update(
        SCANGUARD_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'sg.db'}",
        SCANGUARD_VAR_DIR=str(tmp_path / "var"),
        SCANGUARD_LOG_LEVEL="WARNING",
        **extra,
    )
    return env


@pytest.mark.parametrize(
    "command",
    [
        ["-m", "admin_api.cli", "serve", "--port", "0"],
        ["-m", "uvicorn", "admin_api.asgi:app", "--port", "0"],
    ],
    ids=["scanguard-serve", "uvicorn"],
)
def test_without_env_the_server_refuses_to_start_naming_the_missing_secrets(
    tmp_path: Path, command: list[str]
) -> None:
    done = subprocess.run(
        [sys.executable, *command],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "SCANGUARD_ENV is not set, so this is production" in done.stderr
    for name in SECRETS:
        assert name in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "var" / "dev-secrets.json").exists()  # nothing was generated


async def test_explicit_development_starts(tmp_path: Path) -> None:
    env = _env(tmp_path, SCANGUARD_ENV="development")
    migrate = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "admin_api.cli", "migrate", env=env
    )
    assert await asyncio.wait_for(migrate.wait(), 120) == 0
    port = _free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        server = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "admin_api.cli", "serve", "--port", str(port)),
            env=env,
            stdout=sink,
            stderr=sink,
        )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

            async def healthy() -> bool:
                assert server.returncode is None, log.read_text()
                try:
                    return (await client.get("/health")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_until(healthy, timeout_s=60, what="development server up")
        assert (tmp_path / "var" / "dev-secrets.json").exists()
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), 30)
