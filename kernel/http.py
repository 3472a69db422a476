"""HTTP glue shared by every domain: problem+json errors, the client IP, auth and DB deps.

This is the one place where domain errors become HTTP responses (RFC 9457 problem details
with a stable ``code`` and the ``field`` at fault).
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Annotated, Any, Generic, TypeVar

import msgspec
import structlog
from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.exceptions import HTTPException, ValidationException
from litestar.params import QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kernel.auth import Principal, Role, TokenPurpose, decode_token
from kernel.errors import AuthenticationFailed, DomainError, RateLimited
from kernel.settings import Settings

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "Limit",
    "Offset",
    "Page",
    "body_problem",
    "client_ip",
    "domain_problem",
    "exception_handlers",
    "missing_body_problem",
    "problem_body",
    "problem_response",
    "provide_db_session",
    "provide_principal",
    "provide_settings",
]

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = structlog.get_logger("kernel.http")
T = TypeVar("T")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


# The pagination parameters every list endpoint takes.
Limit = Annotated[int, QueryParameter(ge=1, le=200, description="page size (1..200)")]
Offset = Annotated[int, QueryParameter(ge=0, description="rows to skip")]


class Page(msgspec.Struct, Generic[T], kw_only=True):
    """One page of a list endpoint; ``total`` counts all rows matching the filters."""

    items: list[T]
    total: int
    limit: int
    offset: int


# ---------------------------------------------------------------------------------------------
# Client IP: the single audited place that decides who the client is.
# ---------------------------------------------------------------------------------------------
def client_ip(peer: str | None, forwarded_for: str | None, trusted: Sequence[IPNetwork]) -> str:
    """Return the client's IP address.

    ``X-Forwarded-For`` is believed only when the direct peer is a configured proxy; then the
    chain is walked from the right (the hop our proxy appended) and the first address that is
    not itself a trusted proxy is the client. Garbage in the header never wins over the peer.
    """
    if peer is None:
        return "0.0.0.0"  # noqa: S104 - ASGI servers without a peer (tests); never trusted
    # The peer is one of a handful of proxies (or a client connecting directly): its parse and
    # trust check are cached; forwarded hops are mostly distinct clients and are not.
    # (Only an immutable tuple of networks, as in Settings, is cached.)
    cached = _PEERS.get((peer, id(trusted)))
    if cached is not None and cached[0] is trusted:
        peer_info = cached[1]
    else:
        peer_info = _peer_info(peer, trusted)
        if isinstance(trusted, tuple):
            if len(_PEERS) >= _PEERS_MAX:
                _PEERS.clear()
            _PEERS[(peer, id(trusted))] = (trusted, peer_info)
    if peer_info is None:
        return peer
    peer_text, peer_trusted = peer_info
    if not forwarded_for or not peer_trusted:
        return peer_text
    client = peer_text
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        try:
            hop_addr = ipaddress.ip_address(hop)
        except ValueError:
            break  # a malformed hop: stop believing the header here
        # A valid IPv4 text is already canonical (no leading zeros, four decimal octets).
        client = hop if hop_addr.version == 4 else str(hop_addr)
        if not _is_trusted(hop_addr, trusted):
            break
    return client


# (peer text, id of the trusted networks) -> (those networks, _peer_info); the networks are
# kept so that a recycled id() cannot match.
_PEERS: dict[tuple[str, int], tuple[Sequence[IPNetwork], tuple[str, bool] | None]] = {}
_PEERS_MAX = 1024


def _peer_info(peer: str, trusted: Sequence[IPNetwork]) -> tuple[str, bool] | None:
    """(canonical text, is a trusted proxy) of a peer address; None when it is not an IP."""
    try:
        addr = ipaddress.ip_address(peer)
    except ValueError:
        return None
    return str(addr), _is_trusted(addr, trusted)


def _is_trusted(
    addr: ipaddress.IPv4Address | ipaddress.IPv6Address, nets: Iterable[IPNetwork]
) -> bool:
    return any(addr in net for net in nets)


# ---------------------------------------------------------------------------------------------
# Problem details
# ---------------------------------------------------------------------------------------------
def problem_body(
    status: int,
    *,
    code: str,
    title: str,
    detail: str,
    field: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An RFC 9457 problem document with our stable ``code`` and the ``field`` at fault."""
    body: dict[str, Any] = {
        "type": f"https://scanguard.dev/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if field is not None:
        body["field"] = field
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return body


def problem_response(
    status: int,
    *,
    code: str,
    title: str,
    detail: str,
    field: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response[dict[str, Any]]:
    body = problem_body(
        status, code=code, title=title, detail=detail, field=field, errors=errors, extra=extra
    )
    return Response(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def domain_problem(exc: DomainError) -> tuple[int, list[tuple[str, str]], dict[str, Any]]:
    """(status, extra headers, problem document) for a domain error."""
    headers: list[tuple[str, str]] = []
    if isinstance(exc, RateLimited):
        headers.append(("Retry-After", str(exc.retry_after)))
    elif isinstance(exc, AuthenticationFailed):
        headers.append(("WWW-Authenticate", 'Bearer realm="scanguard"'))
    body = problem_body(
        exc.status,
        code=exc.code,
        title=exc.title,
        detail=exc.detail,
        field=exc.field,
        extra={k: v for k, v in exc.extra.items() if k != "retry_after"} or None,
    )
    return exc.status, headers, body


def _domain_error_handler(_: Request[Any, Any, Any], exc: DomainError) -> Response[dict[str, Any]]:
    status, headers, body = domain_problem(exc)
    return Response(
        body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=dict(headers) or None
    )


_PATH_RE = re.compile(r"`\$\.?([^`]*)`")
_NAMED_FIELD_RE = re.compile(r"(?:missing required field|unknown field) `([^`]+)`")
_AT_PATH_RE = re.compile(r" - at `\$[^`]*`$")
ROOT_FIELD = "body"  # a problem with the JSON body as a whole, not one of its fields


def _field_from_message(message: str, key: str | None) -> str | None:
    """The dotted path of the field msgspec complained about (``location.lat``)."""
    path = ""
    match = _PATH_RE.search(message)
    if match and match.group(1):
        path = match.group(1).replace("[", ".").replace("]", "").lstrip(".")
    named = _NAMED_FIELD_RE.search(message)
    if named:
        return f"{path}.{named.group(1)}" if path else named.group(1)
    if path:
        return path
    return key or None


def missing_body_problem() -> dict[str, Any]:
    """The 400 problem for a request without the JSON body its route needs."""
    return problem_body(
        400,
        code="missing_body",
        title="Invalid request",
        detail="a JSON request body is required",
        field=ROOT_FIELD,
    )


def body_problem(message: str, *, malformed: bool, key: str | None = None) -> dict[str, Any]:
    """The 400 problem for a JSON body that is not JSON (``malformed``) or does not fit its
    schema; ``message`` is msgspec's, with or without its `` - at `$.path` `` suffix."""
    if malformed:
        return problem_body(
            400,
            code="malformed_json",
            title="Malformed request body",
            detail=f"the request body is not valid JSON: {message}",
            field=ROOT_FIELD,
        )
    field = _field_from_message(message, key)
    if field in (None, "", "data"):  # "data": Litestar's name for the whole body
        field = ROOT_FIELD
    text = _AT_PATH_RE.sub("", message)
    code = "unknown_field" if "unknown field" in text else "invalid_body"
    return problem_body(
        400,
        code=code,
        title="Invalid request",
        detail=text,
        field=field,
        errors=[{"field": field, "message": text, "source": "body"}],
    )


def _validation_handler(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[dict[str, Any]]:
    items = [i for i in (exc.extra if isinstance(exc.extra, list) else []) if isinstance(i, dict)]
    if items and all(item.get("source") == "body" for item in items):
        first = items[0]
        message, key = str(first.get("message", "")), first.get("key")
        if key == "data" and message == "'data'":  # no body at all
            body = missing_body_problem()
        else:
            body = body_problem(message, malformed=False, key=str(key) if key else None)
        return Response(body, status_code=400, media_type=PROBLEM_MEDIA_TYPE)
    errors: list[dict[str, Any]] = []
    for item in items:
        message = str(item.get("message", ""))
        key = item.get("key")
        errors.append(
            {
                "field": _field_from_message(message, str(key) if key else None),
                "message": message,
                "source": item.get("source"),
            }
        )
    detail = str(exc.detail)
    if "Unknown field" in detail or any(
        "Object contains unknown field" in e["message"] for e in errors
    ):
        code = "unknown_field"
    elif any(e.get("source") == "body" for e in errors) or "body" in detail.lower():
        code = "invalid_body"
    else:
        code = "invalid_parameter"
    if errors and errors[0]["message"]:
        detail = errors[0]["message"]
    if "JSON is malformed" in detail or "malformed" in detail.lower():
        code = "malformed_json"
    return problem_response(
        400,
        code=code,
        title="Invalid request",
        detail=detail,
        field=errors[0]["field"] if errors else None,
        errors=errors or None,
    )


def _http_exception_handler(
    _: Request[Any, Any, Any], exc: HTTPException
) -> Response[dict[str, Any]]:
    status = exc.status_code
    if status == 400 and _is_malformed_body(exc):
        cause = _decode_error_of(exc)
        body = body_problem(str(cause) if cause else str(exc.detail), malformed=True)
        return Response(body, status_code=400, media_type=PROBLEM_MEDIA_TYPE)
    codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated", 413: "too_large"}
    return problem_response(
        status,
        code=codes.get(status, "http_error"),
        title=str(exc.detail) if status < 500 else "Server error",
        detail=str(exc.detail),
        headers=exc.headers,
    )


def _decode_error_of(exc: HTTPException) -> msgspec.DecodeError | None:
    cause: BaseException | None = exc
    for _ in range(5):  # ClientException <- SerializationException <- msgspec.DecodeError
        cause = cause.__cause__ or cause.__context__ if cause is not None else None
        if isinstance(cause, msgspec.DecodeError) and not isinstance(
            cause, msgspec.ValidationError
        ):
            return cause
    return None


def _is_malformed_body(exc: HTTPException) -> bool:
    """Litestar reports undecodable JSON as a bare 400 whose cause is msgspec's DecodeError."""
    cause: BaseException | None = exc
    for _ in range(5):
        cause = cause.__cause__ or cause.__context__ if cause is not None else None
        if isinstance(cause, msgspec.ValidationError):
            return False
        if isinstance(cause, msgspec.DecodeError):
            return True
    return False


def _unhandled_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("http.request.unhandled", path=request.url.path, method=request.method)
    return problem_response(
        500,
        code="internal_error",
        title="Internal server error",
        detail="An unexpected error occurred; it has been logged.",
    )


exception_handlers: dict[type[Exception] | int, Any] = {
    DomainError: _domain_error_handler,
    ValidationException: _validation_handler,
    HTTPException: _http_exception_handler,
    Exception: _unhandled_handler,
}


# ---------------------------------------------------------------------------------------------
# Dependencies
# ---------------------------------------------------------------------------------------------
def provide_settings(state: State) -> Settings:
    """The app's Settings (call it; Settings is not injectable: its IP networks defeat
    Litestar's signature model)."""
    settings: Settings = state.settings
    return settings


async def provide_db_session(state: State) -> AsyncIterator[AsyncSession]:
    """A session per request; the request boundary commits (services only flush)."""
    factory: async_sessionmaker[AsyncSession] = state.session_factory
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


ADMIN_TOKEN_ROLES = frozenset({Role.PLATFORM_ADMIN, Role.BRAND_ADMIN, Role.BRAND_VIEWER})


PrincipalGuard = Callable[[Principal], Awaitable[None]]


async def provide_principal(request: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The verified admin principal from ``Authorization: Bearer <jwt>``.

    After the token checks out, ``app.state.principal_guard`` (set by the composition root)
    may still refuse it, e.g. because the account was disabled after the token was issued.
    """
    principal = _principal_from_token(request)
    guard: PrincipalGuard | None = getattr(request.app.state, "principal_guard", None)
    if guard is not None:
        await guard(principal)
    return principal


def _principal_from_token(request: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationFailed("missing bearer token", code="missing_token")
    settings: Settings = request.app.state.settings
    claims = decode_token(settings.jwt_secret, token.strip(), purpose=TokenPurpose.ADMIN)
    if claims.get("role") not in ADMIN_TOKEN_ROLES:
        raise AuthenticationFailed("not an admin token", code="invalid_token")
    try:
        brand = claims.get("brand")
        return Principal(
            subject=uuid.UUID(str(claims["sub"])),
            username=str(claims.get("username", "")),
            role=str(claims["role"]),
            brand_id=uuid.UUID(str(brand)) if brand else None,
        )
    except (KeyError, ValueError) as exc:
        raise AuthenticationFailed("token lacks required claims", code="invalid_token") from exc
