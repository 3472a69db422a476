"""Problem details: the one place where errors become HTTP answers.

Domain errors (``kernel.errors``), Litestar's validation and HTTP errors and anything
unexpected are rendered as RFC 9457 ``application/problem+json`` documents with a stable
``code`` and the ``field`` at fault.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from kernel.errors import AuthenticationFailed, DomainError, RateLimited

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "body_problem",
    "domain_problem",
    "exception_handlers",
    "missing_body_problem",
    "problem_body",
    "problem_response",
]

log = structlog.get_logger("kernel.problems")


PROBLEM_MEDIA_TYPE = "application/problem+json"


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
