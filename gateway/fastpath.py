"""The mini-program's scan call, ``POST /v1/scans``, served without the framework's pipeline.

Litestar stays the application: it routes every other request, runs the lifespan, documents
``POST /v1/scans`` in OpenAPI and serves it whenever this front is off
(``SCANGUARD_SCAN_FAST_PATH=0``). This front answers that one route itself because, for a
forged code (no I/O at all), Litestar's per-request machinery (signature model, body data
handler, response object, exception middleware) costs about four times the scan: see
docs/benchmarks.md. Same contract, same code underneath: the body is decoded into the same
``ScanIn``, the scan goes through the same ``ScanService`` and ``to_result``, and errors are the
same problem+json documents (``kernel.http.domain_problem``, ``body_problem``); a contract test
sends identical requests through both paths and compares the answers byte for byte.
"""

from __future__ import annotations

from typing import Any

import msgspec
import structlog

from gateway.scan_request import api_scan
from gateway.schemas import ScanIn, to_result
from gateway.service import ScanService
from kernel.db import utcnow
from kernel.errors import DomainError
from kernel.problems import (
    PROBLEM_MEDIA_TYPE,
    body_problem,
    domain_problem,
    missing_body_problem,
    problem_body,
)
from kernel.settings import Settings
from kernel.wire import json_problem

__all__ = ["MAX_SCAN_BODY_BYTES", "SCAN_PATH", "ScanFastPath"]

log = structlog.get_logger("gateway.fastpath")

SCAN_PATH = "/v1/scans"
MAX_SCAN_BODY_BYTES = 4096  # a URL of at most 512 characters, a device id and a GPS fix

Scope = dict[str, Any]
Receive = Any
Send = Any

_decode_scan = msgspec.json.Decoder(ScanIn).decode
_encode = msgspec.json.Encoder().encode
_JSON_HEADERS = [(b"content-type", b"application/json")]
_PROBLEM_HEADERS = [(b"content-type", PROBLEM_MEDIA_TYPE.encode())]


class ScanFastPath:
    """ASGI front: ``POST /v1/scans`` here, everything else to ``app`` (the Litestar app)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __getattr__(self, name: str) -> Any:
        # Tools that expect the Litestar app (state, lifespan, OpenAPI) see it through this front.
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == SCAN_PATH and scope["method"] == "POST":
            await self._scan(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _scan(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            status, headers, body = await self._answer(scope, receive)
        except Exception:  # same last resort as the app's handler: a logged 500 problem
            log.exception("http.request.unhandled", path=SCAN_PATH, method="POST")
            status, headers, body = 500, _PROBLEM_HEADERS, _encode(_INTERNAL_ERROR)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, scope: Scope, receive: Receive) -> tuple[int, list[Any], bytes]:
        raw = await _read_body(receive)
        if raw is None:
            return _problem(
                413,
                problem_body(
                    413,
                    code="too_large",
                    title="Request Entity Too Large",
                    detail="Request Entity Too Large",
                ),
            )
        if not raw:
            return _problem(400, missing_body_problem())
        refused = json_problem(raw)  # what kernel.wire.wire_guard refuses on the Litestar path
        if refused is not None:
            return _problem(400, refused)
        try:
            data = _decode_scan(raw)
        except msgspec.ValidationError as exc:
            return _problem(400, body_problem(str(exc), malformed=False))
        except msgspec.DecodeError as exc:
            return _problem(400, body_problem(str(exc), malformed=True))
        state = self.app.state
        settings: Settings = state.settings
        forwarded_for = user_agent = None
        for key, value in scope["headers"]:
            if key == b"x-forwarded-for":
                forwarded_for = value.decode("latin-1")
            elif key == b"user-agent":
                user_agent = value.decode("latin-1")
        peer = scope.get("client")
        scans: ScanService = state.scans
        try:
            link, ctx = api_scan(
                data,
                settings,
                peer=peer[0] if peer else None,
                forwarded_for=forwarded_for,
                user_agent=user_agent,
            )
            outcome = await scans.scan(link, ctx)
        except DomainError as exc:
            status, extra_headers, problem = domain_problem(exc)
            return (
                status,
                [*_PROBLEM_HEADERS, *((k.lower().encode(), v.encode()) for k, v in extra_headers)],
                _encode(problem),
            )
        return 200, _JSON_HEADERS, _encode(to_result(outcome, utcnow()))


_INTERNAL_ERROR = problem_body(
    500,
    code="internal_error",
    title="Internal server error",
    detail="An unexpected error occurred; it has been logged.",
)


def _problem(status: int, body: dict[str, Any]) -> tuple[int, list[Any], bytes]:
    return status, _PROBLEM_HEADERS, _encode(body)


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None when it exceeds ``MAX_SCAN_BODY_BYTES``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > MAX_SCAN_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
