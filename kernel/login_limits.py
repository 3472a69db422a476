"""Login limits: failed logins lock the username and the client IP for a growing, bounded time.

Every password login (admin API, distributor API, and any form login such as the console's)
runs through ``limited_login``:

1. a username or a client IP that is locked gets 429 ``login_locked`` with ``Retry-After``
   before any password is checked;
2. a failure counts against both the username and the IP; the failure that reaches
   ``login_failures_per_account`` (per username) or ``login_failures_per_ip`` (per IP) within
   ``login_window_s`` locks that subject and is itself answered 429, and the lock is written
   to the audit trail (``auth.login.locked``);
3. a success clears the username's failures and its back-off.

A lock lasts ``login_lockout_s``, doubled with each further lock of the same subject up to
``login_lockout_max_s``; the count of locks is forgotten after ``window + 2 × cap`` of quiet.
So an attacker can delay a victim's logins by at most the cap at a time, never lock an
account for good, and the attacker's own IP is locked after a few dozen failures anyway.

Usernames are counted whether or not they exist (and case-insensitively, as they are
stored), so the answers reveal nothing about which accounts exist. Counters live in Redis
(one atomic script per subject, keys hash-tagged per subject for Redis Cluster). While Redis
is down (``RedisHealth``) the counters of this process take over; locks set there are
honoured after Redis returns. The fallback is per worker: with N workers an attacker gets at
most N times the attempts while Redis is down.
"""

from __future__ import annotations

import hashlib
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import structlog
from litestar import Request
from sqlalchemy import select

from kernel.accounts import User
from kernel.audit import record_audit
from kernel.cache import REDIS_DOWN_ERRORS
from kernel.client_ip import client_ip
from kernel.errors import AuthenticationFailed, RateLimited
from kernel.runtime import Runtime
from kernel.settings import AuthSettings
from kernel.uow import session_scope

__all__ = [
    "LoginAttempt",
    "LoginLimiter",
    "limited_login",
    "login_attempt",
    "provide_login_limiter",
]

T = TypeVar("T")
Subject = Literal["account", "ip"]
log = structlog.get_logger("kernel.login_limits")

# KEYS: failures, strikes, lock. ARGV: limit, window ms, first lock ms, cap ms.
# Returns the lock's length in ms when this failure locks the subject, else 0.
_FAIL_SCRIPT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if n < tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
local s = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]) + 2 * tonumber(ARGV[4]))
local ms = math.min(tonumber(ARGV[3]) * 2 ^ math.min(s - 1, 30), tonumber(ARGV[4]))
ms = math.floor(ms)
redis.call('SET', KEYS[3], '1', 'PX', ms)
return ms
"""

_MEMORY_MAX_KEYS = 100_000


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """One login try: which login form (``scope``, for the audit), who, and from where."""

    scope: str
    username: str
    ip: str

    @property
    def account(self) -> str:
        """The username as accounts store it (unknown names are counted the same way)."""
        return self.username.strip().lower()


@dataclass(frozen=True, slots=True)
class _Limits:
    window_ms: int
    first_ms: int
    cap_ms: int
    per_account: int
    per_ip: int

    @classmethod
    def of(cls, auth: AuthSettings) -> _Limits:
        return cls(
            window_ms=auth.login_window_s * 1000,
            first_ms=auth.login_lockout_s * 1000,
            cap_ms=max(auth.login_lockout_max_s, auth.login_lockout_s) * 1000,
            per_account=auth.login_failures_per_account,
            per_ip=auth.login_failures_per_ip,
        )


class _MemoryCounters:
    """The script's semantics in this process: the fallback while Redis is down."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[int, float]] = {}  # key -> (value, expires, monotonic)

    def _get(self, key: str, now: float) -> int:
        entry = self._values.get(key)
        if entry is None or entry[1] <= now:
            self._values.pop(key, None)
            return 0
        return entry[0]

    def _put(self, key: str, value: int, expires: float) -> None:
        self._values.pop(key, None)  # re-insert: the dict's order is the age order
        self._values[key] = (value, expires)
        if len(self._values) > _MEMORY_MAX_KEYS:
            self._shrink(time.monotonic())

    def _shrink(self, now: float) -> None:
        for key in [k for k, (_, exp) in self._values.items() if exp <= now]:
            del self._values[key]
        while len(self._values) > _MEMORY_MAX_KEYS:  # a flood of names: forget the oldest
            del self._values[next(iter(self._values))]

    def fail(self, keys: tuple[str, str, str], limit: int, limits: _Limits) -> int:
        failures, strikes, lock = keys
        now = time.monotonic()
        count = self._get(failures, now) + 1
        expires = self._values[failures][1] if count > 1 else now + limits.window_ms / 1000
        if count < limit:
            self._put(failures, count, expires)
            return 0
        self._values.pop(failures, None)
        strike = self._get(strikes, now) + 1
        self._put(strikes, strike, now + (limits.window_ms + 2 * limits.cap_ms) / 1000)
        lock_ms: int = min(limits.first_ms * 2 ** min(strike - 1, 30), limits.cap_ms)
        self._put(lock, 1, now + lock_ms / 1000)
        return lock_ms

    def lock_ms(self, key: str) -> int:
        entry = self._values.get(key)
        now = time.monotonic()
        if entry is None or entry[1] <= now:
            return 0
        return math.ceil((entry[1] - now) * 1000)

    def clear(self, *keys: str) -> None:
        for key in keys:
            self._values.pop(key, None)


class LoginLimiter:
    """Counts failed logins per username and per client IP; see the module docstring."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.limits = _Limits.of(runtime.settings.auth)
        self.memory = _MemoryCounters()
        self._script = runtime.redis.register_script(_FAIL_SCRIPT)

    def _keys(self, subject: Subject, attempt: LoginAttempt) -> tuple[str, str, str]:
        if subject == "account":
            digest = hashlib.sha256(attempt.account.encode()).hexdigest()[:32]
            tag = "{a:" + digest + "}"
        else:
            tag = "{ip:" + attempt.ip + "}"
        return (
            self.runtime.key("login", "fail", tag),
            self.runtime.key("login", "strikes", tag),
            self.runtime.key("login", "lock", tag),
        )

    async def _redis(self, call: Callable[[], Awaitable[T]]) -> tuple[bool, T | None]:
        """(answered, result) of a Redis call; (False, None) while or when Redis is down."""
        health = self.runtime.redis_health
        if not health.available:
            return False, None
        try:
            result = await call()
        except REDIS_DOWN_ERRORS as exc:
            health.record_failure(exc)
            return False, None
        health.record_success()
        return True, result

    async def check(self, attempt: LoginAttempt) -> None:
        """Raise 429 ``login_locked`` while the username or the IP is locked."""
        locks = [self._keys("account", attempt)[2], self._keys("ip", attempt)[2]]
        remaining = max(self.memory.lock_ms(k) for k in locks)

        async def pttl() -> list[Any]:
            pipe = self.runtime.redis.pipeline(transaction=False)
            for key in locks:
                pipe.pttl(key)
            return list(await pipe.execute())

        answered, ttls = await self._redis(pttl)
        if answered and ttls:
            remaining = max(remaining, *(int(t) for t in ttls))
        if remaining > 0:
            raise _locked(remaining)

    async def failed(self, attempt: LoginAttempt) -> None:
        """Count a failure; when it locks the username or the IP: audit it and raise 429."""
        subjects: list[tuple[Subject, int]] = [
            ("account", self.limits.per_account),
            ("ip", self.limits.per_ip),
        ]
        locked: list[tuple[Subject, int]] = []
        for subject, limit in subjects:
            lock_ms = await self._count_failure(self._keys(subject, attempt), limit)
            if lock_ms:
                locked.append((subject, lock_ms))
        if locked:
            await self._audit(attempt, locked)
            raise _locked(max(ms for _, ms in locked))

    async def _count_failure(self, keys: tuple[str, str, str], limit: int) -> int:
        """The lock's length in ms when this failure locks the subject, else 0."""
        args = [limit, self.limits.window_ms, self.limits.first_ms, self.limits.cap_ms]
        answered, result = await self._redis(lambda: self._script(keys=list(keys), args=args))
        if not answered:
            return self.memory.fail(keys, limit, self.limits)
        return int(result or 0)

    async def succeeded(self, attempt: LoginAttempt) -> None:
        """The password was right: the username's failures and back-off start over."""
        failures, strikes, _ = self._keys("account", attempt)
        self.memory.clear(failures, strikes)
        await self._redis(lambda: self.runtime.redis.delete(failures, strikes))

    async def _audit(self, attempt: LoginAttempt, locked: list[tuple[Subject, int]]) -> None:
        # Its own transaction: the failed login's request rolls its own back.
        async with session_scope(self.runtime.session_factory) as session:
            brand_id: uuid.UUID | None = (
                await session.execute(
                    select(User.brand_id).where(User.username == attempt.account[:100])
                )
            ).scalar_one_or_none()
            for subject, lock_ms in locked:
                record_audit(
                    session,
                    None,
                    "auth.login.locked",
                    target_type="login_account" if subject == "account" else "client_ip",
                    target_id=(attempt.account if subject == "account" else attempt.ip)[:100],
                    brand_id=brand_id if subject == "account" else None,
                    details={
                        "scope": attempt.scope,
                        "ip": attempt.ip,
                        "username": attempt.account[:100],
                        "lock_s": math.ceil(lock_ms / 1000),
                    },
                )
        log.warning(
            "auth.login.locked",
            scope=attempt.scope,
            ip=attempt.ip,
            subjects=[s for s, _ in locked],
        )


def _locked(remaining_ms: int) -> RateLimited:
    return RateLimited(
        "too many failed logins; try again later",
        retry_after=max(1, math.ceil(remaining_ms / 1000)),
        code="login_locked",
    )


async def limited_login(
    limiter: LoginLimiter, attempt: LoginAttempt, login: Callable[[], Awaitable[T]]
) -> T:
    """Run ``login`` (which raises ``AuthenticationFailed`` on bad credentials) under the
    limits: 429 ``login_locked`` before it while locked, failures counted, success resets."""
    await limiter.check(attempt)
    try:
        result = await login()
    except AuthenticationFailed:
        await limiter.failed(attempt)
        raise
    await limiter.succeeded(attempt)
    return result


def login_attempt(request: Request[Any, Any, Any], scope: str, username: str) -> LoginAttempt:
    """The attempt of this request: the client IP as ``kernel.client_ip`` decides it."""
    settings = request.app.state.settings
    peer = request.client.host if request.client else None
    ip = client_ip(peer, request.headers.get("x-forwarded-for"), settings.gateway.trusted_proxies)
    return LoginAttempt(scope=scope, username=username, ip=ip)


def provide_login_limiter(state: Any) -> LoginLimiter:
    """The app's one limiter (its in-process fallback is per app), made on first use."""
    limiter: LoginLimiter | None = getattr(state, "login_limiter", None)
    if limiter is None:
        limiter = LoginLimiter(state.runtime)
        state.login_limiter = limiter
    return limiter
