"""Login limits: failures lock a username and an IP for a growing, bounded time (429 with
Retry-After and an audit entry), unknown usernames alike, on Redis and with Redis down."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis
from litestar import Litestar
from sqlalchemy import select

from kernel.audit import AuditEntry
from kernel.auth import Role
from kernel.cache import RedisHealth
from kernel.login_limits import LoginLimiter
from kernel.settings import Settings
from tests.conftest import running_app
from tests.factories.channel import make_distributor, make_distributor_user
from tests.factories.tenancy import DEFAULT_PASSWORD, make_brand, make_user
from tests.support.waiting import wait_until

ADMIN_LOGIN = "/v1/admin/auth/login"
DISTRIBUTOR_LOGIN = "/v1/distributor/auth/login"
PER_ACCOUNT = 3
PER_IP = 5


@pytest.fixture
async def limited(settings: Settings) -> AsyncIterator[tuple[Litestar, httpx.AsyncClient]]:
    """The app behind a trusted proxy (X-Forwarded-For names the client) with small limits."""
    limited_settings = settings.with_overrides(
        auth={
            "login_failures_per_account": PER_ACCOUNT,
            "login_failures_per_ip": PER_IP,
            "login_lockout_s": 1,
            "login_lockout_max_s": 2,
        }
    )
    async with running_app(limited_settings, client_ip="127.0.0.1") as pair:
        yield pair


async def _try(
    client: httpx.AsyncClient, username: str, password: str, ip: str, path: str = ADMIN_LOGIN
) -> httpx.Response:
    return await client.post(
        path,
        json={"username": username, "password": password},
        headers={"X-Forwarded-For": ip},
    )


async def _locks(app: Litestar) -> list[AuditEntry]:
    async with app.state.session_factory() as session:
        rows = await session.execute(
            select(AuditEntry)
            .where(AuditEntry.action == "auth.login.locked")
            .order_by(AuditEntry.id)
        )
        return list(rows.scalars().all())


async def _fail_until_locked(
    client: httpx.AsyncClient, username: str, ip: str, path: str = ADMIN_LOGIN
) -> httpx.Response:
    for _ in range(PER_ACCOUNT - 1):
        assert (await _try(client, username, "wrong password!", ip, path)).status_code == 401
    return await _try(client, username, "wrong password!", ip, path)


async def test_failures_lock_the_account_with_retry_after_and_an_audit_entry(
    limited: tuple[Litestar, httpx.AsyncClient],
) -> None:
    app, client = limited
    brand = await make_brand(app)
    user = await make_user(app, role=Role.BRAND_ADMIN, brand=brand)
    locked = await _fail_until_locked(client, user.username, "198.51.100.1")
    assert locked.status_code == 429
    assert locked.headers["Retry-After"] == "1"
    assert locked.json()["code"] == "login_locked"
    # The right password from another IP is refused too while the account is locked, and no
    # password is checked: the answer is the same 429.
    again = await _try(client, user.username.upper(), DEFAULT_PASSWORD, "198.51.100.2")
    assert again.status_code == 429
    assert int(again.headers["Retry-After"]) >= 1
    [entry] = await _locks(app)
    assert entry.target_type == "login_account"
    assert entry.target_id == user.username
    assert entry.brand_id == brand.id
    assert entry.details["scope"] == "admin"
    assert entry.details["ip"] == "198.51.100.1"


async def test_unknown_usernames_are_limited_the_same_way(
    limited: tuple[Litestar, httpx.AsyncClient],
) -> None:
    app, client = limited
    user = await make_user(app, role=Role.PLATFORM_ADMIN)
    known = await _fail_until_locked(client, user.username, "198.51.100.3")
    unknown = await _fail_until_locked(client, "nobody-at-all", "198.51.100.4")
    assert known.status_code == unknown.status_code == 429
    strip = {"detail", "instance"}
    assert {k: v for k, v in known.json().items() if k not in strip} == {
        k: v for k, v in unknown.json().items() if k not in strip
    }
    assert known.headers["Retry-After"] == unknown.headers["Retry-After"]
    assert [e.target_id for e in await _locks(app)] == [user.username, "nobody-at-all"]


async def test_one_ip_trying_many_usernames_is_locked_and_other_ips_are_not(
    limited: tuple[Litestar, httpx.AsyncClient],
) -> None:
    app, client = limited
    user = await make_user(app, role=Role.PLATFORM_ADMIN)
    attacker = "203.0.113.50"
    answers = [
        (await _try(client, f"guess-{n}", "wrong password!", attacker)).status_code
        for n in range(PER_IP)
    ]
    assert answers == [401] * (PER_IP - 1) + [429]
    blocked = await _try(client, user.username, DEFAULT_PASSWORD, attacker)
    assert blocked.status_code == 429
    assert (await _try(client, user.username, DEFAULT_PASSWORD, "203.0.113.51")).status_code == 200
    ip_locks = [e for e in await _locks(app) if e.target_type == "client_ip"]
    assert [e.target_id for e in ip_locks] == [attacker]


async def _wait_out(response: httpx.Response) -> None:
    """Wait until the lock announced by ``response`` (its Retry-After) has ended."""
    ends = time.monotonic() + int(response.headers["Retry-After"]) + 0.05
    await wait_until(lambda: time.monotonic() >= ends, timeout_s=10, what="the lock's end")


async def test_backoff_grows_to_the_cap_and_never_locks_for_good(
    limited: tuple[Litestar, httpx.AsyncClient],
) -> None:
    app, client = limited
    user = await make_user(app, role=Role.PLATFORM_ADMIN)
    retry_afters = []
    for n in range(3):
        locked = await _fail_until_locked(client, user.username, f"198.51.100.{10 + n}")
        assert locked.status_code == 429
        retry_afters.append(int(locked.headers["Retry-After"]))
        await _wait_out(locked)
    assert retry_afters == [1, 2, 2]  # doubled, then held at login_lockout_max_s
    # After the lock the owner gets in, and the success clears failures and back-off.
    owner = await _try(client, user.username, DEFAULT_PASSWORD, "198.51.100.20")
    assert owner.status_code == 200
    relocked = await _fail_until_locked(client, user.username, "198.51.100.21")
    assert relocked.status_code == 429
    assert relocked.headers["Retry-After"] == "1"


async def test_distributor_login_is_limited_and_shares_the_account_counter(
    limited: tuple[Litestar, httpx.AsyncClient],
) -> None:
    app, client = limited
    brand = await make_brand(app)
    username = await make_distributor_user(app, await make_distributor(app, brand))
    locked = await _fail_until_locked(client, username, "198.51.100.30", DISTRIBUTOR_LOGIN)
    assert locked.status_code == 429
    assert locked.json()["code"] == "login_locked"
    refused = await _try(client, username, DEFAULT_PASSWORD, "198.51.100.31", DISTRIBUTOR_LOGIN)
    assert refused.status_code == 429
    [entry] = await _locks(app)
    assert entry.details["scope"] == "distributor"
    assert entry.brand_id == brand.id
    # The admin login counts the same username: no doubling the attempts by switching forms.
    assert (await _try(client, username, "x", "198.51.100.32")).status_code == 429


async def test_limits_hold_while_redis_is_down(
    limited: tuple[Litestar, httpx.AsyncClient],
) -> None:
    app, client = limited
    user = await make_user(app, role=Role.PLATFORM_ADMIN)
    # Nothing listens on port 1: every Redis call of this limiter fails at once.
    dead = aioredis.Redis.from_url(
        "redis://127.0.0.1:1", socket_timeout=0.2, socket_connect_timeout=0.2
    )
    health = RedisHealth(retry_after_s=0.05)
    runtime = dataclasses.replace(app.state.runtime, redis=dead, redis_health=health)
    app.state.login_limiter = LoginLimiter(runtime)
    try:
        locked = await _fail_until_locked(client, user.username, "198.51.100.40")
        assert locked.status_code == 429
        assert locked.headers["Retry-After"] == "1"
        assert health.failures > 0  # Redis was tried, and the in-process counters answered
        refused = await _try(client, user.username, DEFAULT_PASSWORD, "198.51.100.41")
        assert refused.status_code == 429
        assert len(await _locks(app)) == 1
    finally:
        await dead.aclose()
