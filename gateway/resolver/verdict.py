"""The verdict answered in place: the resolver's default link for a serialised item and its
``gs1:verificationService``. This is the one resolver answer that is a consumer scan."""

from __future__ import annotations

import secrets
from typing import Any

from litestar import Request, Response
from litestar.datastructures import Cookie
from litestar.response import Template

from anticounterfeit.gs1.digital_link import DigitalLink
from gateway.scan_request import scan_context
from gateway.schemas import to_result
from gateway.service import ScanService
from kernel.assets import default_manifest
from kernel.db import utcnow
from kernel.devices import DEVICE_COOKIE
from kernel.settings import Settings

__all__ = ["verdict_answer"]


def _wants_html(request: Request[Any, Any, Any]) -> bool:
    accept = request.headers.get("accept", "")
    if "application/json" in accept:
        return False
    return "text/html" in accept


async def verdict_answer(
    request: Request[Any, Any, Any], link: DigitalLink, headers: dict[str, str]
) -> Response[Any] | Template:
    """Scan ``link`` for this browser or app (device cookie) and answer the verdict: a page
    for ``Accept: text/html``, JSON otherwise, with ``headers`` (CORS, ``Link``)."""
    settings: Settings = request.app.state.settings
    scans: ScanService = request.app.state.scans
    device_id = request.cookies.get(DEVICE_COOKIE)
    new_device = device_id is None or not (8 <= len(device_id) <= 64)
    if new_device:
        device_id = secrets.token_urlsafe(16)
    assert device_id is not None
    html = _wants_html(request)
    ctx = scan_context(
        settings,
        peer=request.client.host if request.client else None,
        forwarded_for=request.headers.get("x-forwarded-for"),
        user_agent=request.headers.get("user-agent"),
        device_id=device_id,
        channel="html" if html else "json",
    )
    outcome = await scans.scan(link, ctx)
    result = to_result(outcome, utcnow())
    cookies = (
        [
            Cookie(
                key=DEVICE_COOKIE,
                value=device_id,
                max_age=2 * 365 * 86400,
                httponly=True,
                samesite="lax",  # Secure is added outside development (kernel.web_security)
            )
        ]
        if new_device
        else []
    )
    headers = {**headers, "Cache-Control": "no-store", "Vary": "Accept, Accept-Language"}
    if html:
        return Template(
            template_name="scan.html.j2",
            # A stylesheet file, not inline: the page's CSP allows no inline style.
            context={
                "r": result,
                "lot_on_pack": link.lot,
                "stylesheet": default_manifest().url("app/scan.css"),
            },
            cookies=cookies,
            headers=headers,
        )
    return Response(result, cookies=cookies, headers=headers)
