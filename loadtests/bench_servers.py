"""Scan gateway baseline: settings, scratch storage and the uvicorn servers under load."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from loadtests.regions import (
    write_region_database,
)

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
WALK_LUA = Path(__file__).parent / "wrk" / "walk.lua"
RESOLVER = "https://id.example.com"
WRK_MISSING = (
    "wrk is not installed. On Debian/Ubuntu: apt-get update && apt-get install -y wrk "
    "(macOS: brew install wrk)"
)
EXPECTED = {
    "bare_redis": {"genuine"},
    "bare_plain": {"genuine"},
    "genuine": {"genuine"},
    "repeat": {"already_scanned", "suspicious"},
    "forged": {"counterfeit"},
    "inactive": {"inactive"},
    "void": {"void"},
}
GOALS = {
    "ratio_genuine_to_bare_redis": 0.5,
    "ratio_genuine_to_bare_plain": 0.9,  # issue 17
    "ratio_html_to_genuine": 0.8,  # issue 17
    "ratio_forged_to_hello": 0.8,
    "genuine_p99_ms_max": 25.0,  # warm, 32 connections (issue 17)
    "cold_p99_ms_max": 50.0,  # first 10 s after the probe answers (issue 17)
}


def _print(name: str, value: object) -> None:
    print(f"{name}: {value}", flush=True)


def _log(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Scratch storage
# ---------------------------------------------------------------------------------------------
@dataclass(slots=True)
class Scratch:
    env: dict[str, str]
    cleanup: list[Any] = field(default_factory=list)


def _secrets_env() -> dict[str, str]:
    keys = ",".join(
        f"{kid}:{base64.b64encode(secrets.token_bytes(32)).decode()}" for kid in range(1, 9)
    )
    return {
        "SCANGUARD_JWT_SECRET": secrets.token_urlsafe(48),
        "SCANGUARD_CODE_KEYS": keys,
        "SCANGUARD_SECRETS_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    }


async def _pg(dsn: str, sql: str) -> None:
    import asyncpg  # type: ignore[import-untyped]  # no stubs; only used here

    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _drop_redis_prefix(url: str, prefix: str) -> int:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        deleted = 0
        batch: list[bytes] = []
        async for key in client.scan_iter(match=f"{prefix}*", count=5000):
            batch.append(key)
            if len(batch) >= 5000:
                deleted += await client.delete(*batch)
                batch = []
        if batch:
            deleted += await client.delete(*batch)
        return deleted
    finally:
        await client.aclose()


@contextmanager
def scratch_storage(args: argparse.Namespace, tmp: Path) -> Iterator[dict[str, str]]:
    """Environment for a fresh database and Redis namespace; removed afterwards."""
    env = {
        "SCANGUARD_ENV": "production",
        "SCANGUARD_VAR_DIR": str(tmp),
        "SCANGUARD_LOG_LEVEL": "WARNING",
        "SCANGUARD_RESOLVER_BASE_URL": RESOLVER,
        # High limits: the bench sends all scans from few addresses and devices.
        "SCANGUARD_RATE_LIMIT_IP_PER_MINUTE": "1000000000",
        "SCANGUARD_RATE_LIMIT_DEVICE_PER_MINUTE": "1000000000",
        "SCANGUARD_COUNTERFEIT_IP_PER_MINUTE": "1000000000",
        # Scans are located (and checked against the seeded distributors' territories) as in
        # production: a small City database placing each client block of loadtests/regions.py.
        "SCANGUARD_GEOIP_DATABASE": str(write_region_database(tmp / "regions.mmdb")),
        **_secrets_env(),
    }
    if args.flush_interval is not None:
        env["SCANGUARD_SCANLOG_FLUSH_INTERVAL_S"] = str(args.flush_interval)
    if args.embedded:
        env["SCANGUARD_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
        env["SCANGUARD_REDIS_URL"] = "memory://"
        yield env
        return
    schema = f"sgbench_{uuid.uuid4().hex[:10]}"
    prefix = f"sgbench:{uuid.uuid4().hex[:10]}:"
    dsn = args.database_url.replace("postgresql+asyncpg://", "postgresql://")
    asyncio.run(_pg(dsn, f'CREATE SCHEMA "{schema}"'))
    _log(f"scratch schema {schema}, Redis prefix {prefix}")
    env.update(
        SCANGUARD_DATABASE_URL=args.database_url,
        SCANGUARD_DATABASE_SCHEMA=schema,
        SCANGUARD_REDIS_URL=args.redis_url,
        SCANGUARD_REDIS_PREFIX=prefix,
    )
    try:
        yield env
    finally:
        asyncio.run(_pg(dsn, f'DROP SCHEMA "{schema}" CASCADE'))
        deleted = asyncio.run(_drop_redis_prefix(args.redis_url, prefix))
        _log(f"dropped schema {schema} and {deleted} Redis keys")


# ---------------------------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def uvicorn_command(target: str, port: int, workers: int, *, factory: bool = False) -> list[str]:
    """The same uvicorn flags for every server (uvloop + httptools, no access log)."""
    cmd = [sys.executable, "-m", "uvicorn", target]
    if factory:
        cmd.append("--factory")
    cmd += [
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--no-proxy-headers",
        "--no-server-header",
        "--log-level",
        "warning",
    ]
    return cmd


@dataclass(slots=True)
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    base_url: str

    def pids(self) -> list[int]:
        """The server process and its children (uvicorn workers)."""
        found = [self.proc.pid]
        for pid in list(found):
            for task in Path(f"/proc/{pid}/task").glob("*/children"):
                found += [int(c) for c in task.read_text().split()]
        return found

    def peak_rss_kib(self) -> dict[int, int]:
        """VmHWM (peak resident set) of each process of the server."""
        peaks: dict[int, int] = {}
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peaks[pid] = int(line.split()[1])
            except OSError:
                continue
        return peaks

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_server(
    name: str, cmd: list[str], env: dict[str, str], port: int, probe: str, cwd: Path | None = None
) -> Server:
    """Start ``cmd``; with ``cwd`` the server imports the code of that source tree."""
    log_path = Path(env["SCANGUARD_VAR_DIR"]) / f"{name}.log"
    proc_env = {**os.environ, **env}
    if cwd is not None:
        proc_env["PYTHONPATH"] = str(cwd)
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            cmd, env=proc_env, stdout=log_file, stderr=subprocess.STDOUT, cwd=cwd
        )
    server = Server(name, proc, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(server.base_url + probe, timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"{name} did not answer {probe} within 30 s")


# ---------------------------------------------------------------------------------------------
# Requests and wrk
# ---------------------------------------------------------------------------------------------
def scan_line(gtin: str, code: str, device: str, ip: str, *, path: str = "/v1/scans") -> str:
    body = json.dumps({"url": f"{RESOLVER}/01/{gtin}/21/{code}", "device_id": device})
    return f"POST\t{path}\t{ip}\t{body}"


def browser_scan_line(gtin: str, code: str, ip: str) -> str:
    """A phone browser opening the printed URL: GET, ``Accept: text/html``, no cookie yet."""
    return f"GET\t/01/{gtin}/21/{code}\t{ip}\t\tAccept: text/html"


def write_lines(path: Path, lines: Sequence[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
