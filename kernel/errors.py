"""Domain errors: plain exceptions with a stable code, mapped to HTTP in one place (kernel.http).

Services raise these; they never raise HTTP exceptions. ``code`` is part of the public API
contract (clients switch on it), ``field`` names the offending input where there is one.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationFailed",
    "Conflict",
    "DomainError",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "RateLimited",
    "ServiceUnavailable",
]


class DomainError(Exception):
    """Base class. ``status`` is the HTTP status the single mapping point will use."""

    status: int = 400
    default_code: str = "bad_request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        field: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code
        self.field = field
        self.extra = extra or {}


class InvalidInput(DomainError):
    status = 422
    default_code = "invalid_input"
    title = "Invalid input"


class NotFound(DomainError):
    status = 404
    default_code = "not_found"
    title = "Not found"


class Conflict(DomainError):
    status = 409
    default_code = "conflict"
    title = "Conflict"


class AuthenticationFailed(DomainError):
    status = 401
    default_code = "unauthenticated"
    title = "Authentication required"


class Forbidden(DomainError):
    status = 403
    default_code = "forbidden"
    title = "Forbidden"


class RateLimited(DomainError):
    status = 429
    default_code = "rate_limited"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(detail, code=code, extra={"retry_after": retry_after})
        self.retry_after = retry_after


class ServiceUnavailable(DomainError):
    status = 503
    default_code = "service_unavailable"
    title = "Service unavailable"
