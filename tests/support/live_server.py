"""A real server process (uvicorn) on a loopback port, for tests that need a URL: browsers,
crash tests. It reads its configuration from the environment, built from the test's
``Settings`` so the test and the server share the same database and Redis prefix."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from kernel.settings import Settings
from tests.support.waiting import wait_until

__all__ = ["free_port", "live_server", "server_env"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The process environment that makes a server run with ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANGUARD_")}
    env.update(
        SCANGUARD_ENV="test",
        SCANGUARD_DATABASE_URL=settings.database.url,
        SCANGUARD_REDIS_URL=settings.redis.url,
        SCANGUARD_REDIS_PREFIX=settings.redis.prefix,
        SCANGUARD_JWT_SECRET=settings.auth.jwt_secret.decode(),  # tests use an ASCII secret
        SCANGUARD_CODE_KEYS=",".join(
            f"{kid}:{base64.b64encode(secret).decode()}"
            for kid, secret in settings.auth.code_keyring.items()
        ),
        SCANGUARD_RATE_LIMIT_IP_PER_MINUTE="1000000",
        SCANGUARD_RATE_LIMIT_DEVICE_PER_MINUTE="1000000",
        SCANGUARD_LOG_LEVEL="WARNING",
        SCANGUARD_VAR_DIR=str(settings.var_dir),
    )
    if settings.database.search_path:
        env["SCANGUARD_DATABASE_SCHEMA"] = settings.database.search_path
    env.update(extra)
    return env


# uvicorn logs this once per worker when its lifespan start-up has run (caches subscribed).
_STARTED = "Application startup complete."


def _worker_options(workers: int) -> list[str]:
    if workers == 1:
        return ["--log-level", "warning"]
    # Info level is what reports each worker's start-up; access lines stay out of the log.
    return ["--workers", str(workers), "--log-level", "info", "--no-access-log"]


@asynccontextmanager
async def live_server(
    settings: Settings, log: Path, *, workers: int = 1, **extra_env: str
) -> AsyncIterator[str]:
    """Run ``admin_api.asgi:app`` (``workers`` processes behind one port) until the block
    ends; yield its base URL once it answers and every worker has started."""
    port = free_port()
    with log.open("ab") as sink:
        process = subprocess.Popen(  # noqa: ASYNC220 - starting a server, not waiting on it
            [
                sys.executable,
                "-m",
                "uvicorn",
                "admin_api.asgi:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                *_worker_options(workers),
            ],
            env=server_env(settings, **extra_env),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"

    async def answers() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")  # noqa: ASYNC240 - it has failed already
        if workers > 1 and log.read_text().count(_STARTED) < workers:  # noqa: ASYNC240 - a small file
            return False
        try:
            async with httpx.AsyncClient(timeout=1) as client:
                return (await client.get(f"{base}/health")).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        await wait_until(answers, timeout_s=30, what=f"the server on port {port}")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
