"""A webhook receiver for tests: a real HTTP server on 127.0.0.1 that a test starts.

It behaves like a careful brand endpoint: verifies ``Scanguard-Signature`` with its own
implementation of the documented scheme (not the sender's code), honours ``Idempotency-Key``
(a key it processed before is acknowledged with 200 and not processed again) and records
every POST. It can be made to fail (``fail_next(n)``: n answers 503, then recover), be slow
(``delay_s``) or be down altogether (``await stop()`` / ``await start()``: connection
refused in between, same port).

Run it in the test's event loop::

    async with WebhookReceiver() as rx:
        rx.set_secret("a", secret)
        url = rx.url("a")            # http://127.0.0.1:<port>/hooks/a
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import uvicorn

__all__ = ["Post", "WebhookReceiver", "verify"]

Scope = dict[str, Any]
Receive = Any
Send = Any


def verify(secret: str, header: str, body: bytes, *, tolerance_s: int = 300) -> bool:
    """The verification snippet of docs/notifications.md, as a receiver would write it."""
    items = [part.split("=", 1) for part in header.split(",") if "=" in part]
    timestamps = [v for k, v in items if k.strip() == "t"]
    signatures = [v for k, v in items if k.strip() == "v1"]
    if len(timestamps) != 1 or not signatures or not timestamps[0].isdigit():
        return False
    if abs(time.time() - int(timestamps[0])) > tolerance_s:
        return False
    expected = hmac.new(
        secret.encode(), timestamps[0].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return any(hmac.compare_digest(expected, s) for s in signatures)


@dataclass
class Post:
    """One POST the receiver got."""

    hook: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool
    status: int
    processed: bool  # first time this idempotency key was accepted
    at: float

    @property
    def key(self) -> str:
        return self.headers.get("idempotency-key", "")

    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


@dataclass
class _Hook:
    secret: str | None = None
    fail_remaining: int = 0
    fail_status: int = 503


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class WebhookReceiver:
    port: int = field(default_factory=_free_port)
    delay_s: float = 0.0
    posts: list[Post] = field(default_factory=list)
    # (hook, key) -> times applied; each hook is its own endpoint with its own key store
    processed_keys: dict[tuple[str, str], int] = field(default_factory=dict)
    in_flight: int = 0  # requests received and not yet answered
    _hooks: dict[str, _Hook] = field(default_factory=dict)
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    # -- configuration ------------------------------------------------------------------
    def url(self, hook: str = "main") -> str:
        return f"http://127.0.0.1:{self.port}/hooks/{hook}"

    def set_secret(self, hook: str, secret: str) -> None:
        self._hooks.setdefault(hook, _Hook()).secret = secret

    def fail_next(self, n: int, hook: str = "main", status: int = 503) -> None:
        state = self._hooks.setdefault(hook, _Hook())
        state.fail_remaining, state.fail_status = n, status

    # -- what arrived -------------------------------------------------------------------
    def posts_to(self, hook: str) -> list[Post]:
        return [p for p in self.posts if p.hook == hook]

    def processed(self, hook: str | None = None) -> list[Post]:
        """Posts whose effect was applied (one per distinct idempotency key)."""
        return [p for p in self.posts if p.processed and (hook is None or p.hook == hook)]

    def distinct_keys(self, hook: str | None = None) -> set[str]:
        return {p.key for p in self.posts if p.signature_ok and hook in (None, p.hook)}

    # -- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        config = uvicorn.Config(
            self._asgi,
            host="127.0.0.1",
            port=self.port,
            lifespan="off",
            interface="asgi3",
            log_level="warning",
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        for _ in range(500):
            if self._server.started:
                return
            if self._task.done():
                await self._task  # raise its start-up error
            await asyncio.sleep(0.01)
        raise RuntimeError("webhook receiver did not start")

    async def stop(self) -> None:
        """Go down (connections refused) until ``start`` again."""
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        self._server, self._task = None, None

    async def __aenter__(self) -> WebhookReceiver:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- the endpoint -------------------------------------------------------------------
    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        path: str = scope["path"]
        if scope["method"] != "POST" or not path.startswith("/hooks/"):
            await self._answer(send, 404, {"error": "not found"})
            return
        hook = path.removeprefix("/hooks/")
        self.in_flight += 1
        try:
            await self._receive_post(send, scope, hook, body)
        finally:
            self.in_flight -= 1

    async def _receive_post(self, send: Send, scope: Scope, hook: str, body: bytes) -> None:
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        state = self._hooks.setdefault(hook, _Hook())
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        signature_ok = state.secret is not None and verify(
            state.secret, headers.get("scanguard-signature", ""), body
        )
        key = headers.get("idempotency-key", "")
        processed = False
        if state.fail_remaining > 0:
            state.fail_remaining -= 1
            status = state.fail_status
        elif not signature_ok:
            status = 401
        elif key and (hook, key) in self.processed_keys:
            status = 200  # seen: acknowledge, do not apply again
        else:
            self.processed_keys[hook, key] = self.processed_keys.get((hook, key), 0) + 1
            processed, status = True, 200
        self.posts.append(
            Post(hook, headers, body, signature_ok, status, processed, time.monotonic())
        )
        await self._answer(send, status, {"ok": status == 200})

    @staticmethod
    async def _answer(send: Send, status: int, payload: dict[str, Any]) -> None:
        raw = json.dumps(payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": raw})
