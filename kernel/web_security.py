"""Security headers and cookie flags for every answer, in one place (a Litestar send hook).

Wired once in the composition root (``before_send``), so no route can forget them, error pages
and 404s included:

- every answer: ``X-Content-Type-Options: nosniff`` (a JSON body is never sniffed as HTML);
- HTML answers: a Content-Security-Policy without inline scripts or styles (the consumer page
  loads ``/static/...`` (kernel.assets) only; product images may come from any https host),
  framing refused
  (``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``: no click-jacking of the scan
  page) and ``Referrer-Policy: no-referrer`` (the scanned URL carries the code);
- the OpenAPI UIs under ``/schema`` (vendored, no inline script: admin_api.openapi_ui) run
  with scripts from ``'self'`` only too, but may use inline styles and blob workers, which
  Swagger UI and ReDoc inject at run time; still not framable;
- every ``Set-Cookie`` gets ``Secure`` outside development (the device and consumer cookies;
  development runs on plain http://127.0.0.1, where a Secure cookie would never come back).
  The cookies themselves are set ``HttpOnly`` and ``SameSite=Lax`` where they are made.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from kernel.settings import Settings

__all__ = ["DOCS_CSP", "PAGE_CSP", "security_headers_hook"]

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "worker-src 'self' blob:; base-uri 'none'; frame-ancestors 'none'"
)
DOCS_PREFIX = "/schema"

_NOSNIFF = (b"x-content-type-options", b"nosniff")
_HTML_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)

SendHook = Callable[[Any, Any], Awaitable[None]]


def security_headers_hook(settings: Settings) -> SendHook:
    """The ``before_send`` hook adding the headers above to each response start."""
    secure_cookies = settings.env != "development"

    async def add_headers(message: Any, scope: Any) -> None:
        if message.get("type") != "http.response.start":
            return
        headers: list[tuple[bytes, bytes]] = []
        html = False
        for name, value in message.get("headers") or ():
            lowered = name.lower()
            if lowered == b"content-type" and value.lower().startswith(b"text/html"):
                html = True
            elif lowered == b"set-cookie" and secure_cookies and not _is_secure(value):
                value = value + b"; Secure"
            headers.append((name, value))
        if not any(name.lower() == _NOSNIFF[0] for name, _ in headers):
            headers.append(_NOSNIFF)
        if html:
            path = str(scope.get("path", ""))
            csp = DOCS_CSP if path.startswith(DOCS_PREFIX) else PAGE_CSP
            headers.append((b"content-security-policy", csp.encode()))
            headers.extend(_HTML_HEADERS)
        message["headers"] = headers

    return add_headers


def _is_secure(set_cookie: bytes) -> bool:
    attributes = set_cookie.split(b";")[1:]  # the first part is name=value
    return any(a.strip().lower() == b"secure" for a in attributes)
