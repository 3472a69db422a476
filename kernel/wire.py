"""What may come over the wire: bounded integer ids and one guard on every request.

Routes take integer ids as :data:`RowId` (64-bit signed, ``>= 1``), so an id beyond what a
database column holds is a 400 naming the parameter instead of a driver error. Every other
input class that no schema can express is refused once, by :func:`wire_guard`, before any
handler runs:

- a NUL character (``%00`` in the query string, ``\\u0000`` in a JSON body): PostgreSQL's
  text columns cannot store it;
- a JSON body nested deeper than :data:`MAX_JSON_DEPTH` levels (checked on the raw bytes,
  before a decoder recurses into it);
- an empty ``PATCH`` (``{}``): a change of nothing is a 400, on every ``PATCH`` route.

Each answers 400 ``application/problem+json`` naming the field: the query parameter, the JSON
path of a NUL in a body (``codes[1]``, ``contact.name``), or ``body`` for the body as a whole.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl

import msgspec
from litestar.enums import ScopeType
from litestar.params import PathParameter
from litestar.types import ASGIApp, Receive, ReceiveMessage, Scope, Send

from kernel.problems import PROBLEM_MEDIA_TYPE, ROOT_FIELD, problem_body

__all__ = ["MAX_INT64", "MAX_JSON_DEPTH", "RowId", "json_problem", "wire_guard"]

MAX_INT64 = 2**63 - 1
MAX_JSON_DEPTH = 32

# An integer row id in a path: what a BIGINT primary key can hold.
RowId = Annotated[int, PathParameter(ge=1, le=MAX_INT64, description="row id (1..2^63-1)")]

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_ESCAPED_NUL = b"\\u0000"
_MAX_INSPECTED = 10 * 1024 * 1024  # Litestar's default request_max_body_size


def json_problem(body: bytes) -> dict[str, Any] | None:
    """The 400 problem for a raw JSON body nested too deep or holding a NUL, else ``None``.

    A scan of the bytes that knows strings and escapes: brackets inside strings do not
    count, and an escaped backslash followed by ``u0000`` is not a NUL.
    """
    if _ESCAPED_NUL not in body and body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return None  # the common case: no scan needed
    depth = 0
    in_string = holds_nul = False
    i = 0
    n = len(body)
    while i < n:
        c = body[i]
        if in_string:
            if c == 0x5C:  # backslash
                holds_nul = holds_nul or body.startswith(b"u0000", i + 1)
                i += 2
                continue
            if c == 0x22:
                in_string = False
        elif c == 0x22:
            in_string = True
        elif c in (0x5B, 0x7B):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return _problem(
                    "too_deep",
                    f"the request body is nested deeper than {MAX_JSON_DEPTH} levels",
                )
        elif c in (0x5D, 0x7D):
            depth -= 1
        i += 1
    if holds_nul:
        field = _nul_field(body)  # the body nests little: decoding it now is safe
        return _problem("nul_character", f"{field} holds a NUL (\\u0000)", field)
    return None


def _nul_field(body: bytes) -> str:
    """Where the first NUL sits, as ``name[2].inner`` (``body`` when it cannot be told)."""
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return ROOT_FIELD
    return _nul_path(document, "") or ROOT_FIELD


def _nul_path(value: Any, path: str) -> str | None:
    # Recursion is bounded: the body was checked to nest at most MAX_JSON_DEPTH levels.
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                return path
            found = _nul_path(item, f"{path}.{key}" if path else key)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_path(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def _problem(code: str, detail: str, field: str = ROOT_FIELD) -> dict[str, Any]:
    return problem_body(400, code=code, title="Invalid request", detail=detail, field=field)


def _query_problem(query_string: bytes) -> dict[str, Any] | None:
    if b"%00" not in query_string and b"\x00" not in query_string:
        return None
    for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if "\x00" in key or "\x00" in value:
            return _problem(
                "nul_character",
                f"query parameter {key!r} holds a NUL (%00)",
                field=key.replace("\x00", ""),
            )
    return None


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return b"json" in value.lower()
    return False


def _empty_patch(body: bytes) -> bool:
    try:
        return bool(msgspec.json.decode(body) == {})
    except msgspec.DecodeError:
        return False


async def _answer(send: Send, problem: dict[str, Any], *, public: bool = False) -> None:
    payload = msgspec.json.encode(problem)
    headers = [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(payload)).encode()),
    ]
    if public:
        # A refused GET/HEAD is readable cross-origin, like the resolver's own answers (GS1
        # checkers run in browsers); it carries no credentials and reveals nothing.
        headers.append((b"access-control-allow-origin", b"*"))
    await send(
        {"type": "http.response.start", "status": int(problem["status"]), "headers": headers}
    )
    await send({"type": "http.response.body", "body": payload, "more_body": False})


def wire_guard(app: ASGIApp) -> ASGIApp:
    """Litestar middleware refusing NUL, over-deep JSON and empty PATCH bodies with a 400."""

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        method = scope.get("method", "GET")
        problem = _query_problem(scope.get("query_string", b""))
        if problem is not None:
            await _answer(send, problem, public=method in ("GET", "HEAD"))
            return
        if method not in _BODY_METHODS or not _is_json(scope):
            await app(scope, receive, send)
            return
        messages: list[ReceiveMessage] = []
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if not message.get("more_body", False) or size > _MAX_INSPECTED:
                break  # beyond the inspected size the app's own body limit answers 413
        body = b"".join(chunks)
        problem = json_problem(body) if size <= _MAX_INSPECTED else None
        if problem is None and method == "PATCH" and _empty_patch(body):
            problem = _problem("empty_patch", "a PATCH must change at least one field")
        if problem is not None:
            await _answer(send, problem)
            return
        replay = iter(messages)

        async def replayed() -> ReceiveMessage:
            return next(replay, None) or await receive()

        await app(scope, replayed, send)

    return guarded
