"""Scan gateway routes: GS1 Digital Link resolution, the mini-program scan API, health."""

from __future__ import annotations

import secrets
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import Cookie, State
from litestar.params import FromPath, JSONBody
from litestar.response import Template
from sqlalchemy import text

from anticounterfeit.gs1.digital_link import DigitalLink, parse_digital_link
from gateway.scan_request import api_scan, scan_context
from gateway.schemas import ScanIn, ScanResult, to_result
from gateway.service import ScanService
from kernel.cache import REDIS_DOWN_ERRORS
from kernel.db import utcnow
from kernel.devices import DEVICE_COOKIE
from kernel.runtime import Runtime
from kernel.settings import Settings

__all__ = ["ROUTES"]


VERDICT_STATUS = 200  # every verdict is a successful answer; the verdict field carries it


def _scans(state: State) -> ScanService:
    service: ScanService = state.scans
    return service


def _peer(request: Request[Any, Any, Any]) -> str | None:
    return request.client.host if request.client else None


def _wants_html(request: Request[Any, Any, Any]) -> bool:
    accept = request.headers.get("accept", "")
    if "application/json" in accept:
        return False
    return "text/html" in accept


async def _resolve(request: Request[Any, Any, Any], link: DigitalLink) -> Response[Any] | Template:
    settings: Settings = request.app.state.settings
    device_id = request.cookies.get(DEVICE_COOKIE)
    new_device = device_id is None or not (8 <= len(device_id) <= 64)
    if new_device:
        device_id = secrets.token_urlsafe(16)
    assert device_id is not None
    html = _wants_html(request)
    ctx = scan_context(
        settings,
        peer=_peer(request),
        forwarded_for=request.headers.get("x-forwarded-for"),
        user_agent=request.headers.get("user-agent"),
        device_id=device_id,
        channel="html" if html else "json",
    )
    outcome = await _scans(request.app.state).scan(link, ctx)
    result = to_result(outcome, utcnow())
    cookies = (
        [
            Cookie(
                key=DEVICE_COOKIE,
                value=device_id,
                max_age=2 * 365 * 86400,
                httponly=True,
                samesite="lax",
            )
        ]
        if new_device
        else []
    )
    headers = {"Cache-Control": "no-store", "Vary": "Accept"}
    if html:
        return Template(
            template_name="scan.html.j2",
            context={"r": result, "lot_on_pack": link.lot},
            cookies=cookies,
            headers=headers,
        )
    return Response(result, cookies=cookies, headers=headers)


async def _resolve_path(request: Request[Any, Any, Any], path: str) -> Response[Any] | Template:
    query = request.url.query
    link = parse_digital_link(path + (f"?{query}" if query else ""), field="gtin")
    return await _resolve(request, link)


@get("/01/{gtin:str}/21/{serial:str}", tags=["scan"], summary="Resolve a scanned GS1 Digital Link")
async def resolve_digital_link(
    request: Request[Any, Any, Any], gtin: FromPath[str], serial: FromPath[str]
) -> Response[Any] | Template:
    """The URL printed in the QR code. Browsers (`Accept: text/html`) get a page, everything
    else JSON with a `verdict`: genuine, already_scanned, suspicious, counterfeit, inactive,
    void. A malformed GTIN is a 422 problem naming `gtin`."""
    return await _resolve_path(request, f"/01/{gtin}/21/{serial}")


@get(
    "/01/{gtin:str}/10/{lot:str}/21/{serial:str}",
    tags=["scan"],
    summary="Resolve a scanned GS1 Digital Link with its lot",
)
async def resolve_digital_link_with_lot(
    request: Request[Any, Any, Any], gtin: FromPath[str], lot: FromPath[str], serial: FromPath[str]
) -> Response[Any] | Template:
    """As `/01/{gtin}/21/{serial}`, with the batch/lot qualifier (AI 10) before the serial."""
    return await _resolve_path(request, f"/01/{gtin}/10/{lot}/21/{serial}")


@post("/v1/scans", tags=["scan"], status_code=200, summary="Check a scanned code (mini-program)")
async def create_scan(request: Request[Any, Any, Any], data: JSONBody[ScanIn]) -> ScanResult:
    """Check the scanned content `url` (a GS1 Digital Link) for the app install `device_id`,
    with an optional GPS `location`. Always JSON."""
    settings: Settings = request.app.state.settings
    link, ctx = api_scan(
        data,
        settings,
        peer=_peer(request),
        forwarded_for=request.headers.get("x-forwarded-for"),
        user_agent=request.headers.get("user-agent"),
    )
    outcome = await _scans(request.app.state).scan(link, ctx)
    return to_result(outcome, utcnow())


@get("/health", tags=["monitoring"], sync_to_thread=False)
def health(state: State) -> dict[str, Any]:
    """Liveness (no I/O). Reports degraded mode when Redis has been failing."""
    runtime: Runtime = state.runtime
    scans = _scans(state)
    redis = runtime.redis_health.snapshot()
    return {
        "status": "ok" if redis["state"] == "up" else "degraded",
        "redis": redis,
        "scanlog": {"queue": scans.scanlog.queue_depth, "written": scans.scanlog.written},
        "geoip": scans.locator.has_database,
    }


@get("/ready", tags=["monitoring"])
async def ready(state: State) -> Response[dict[str, Any]]:
    """Readiness: the database must answer (503 otherwise); Redis down means degraded."""
    runtime: Runtime = state.runtime
    checks: dict[str, str] = {}
    try:
        async with runtime.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except (OSError, Exception) as exc:  # noqa: BLE001 - any failure means not ready
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        await runtime.redis.ping()
        runtime.redis_health.record_success()
        checks["redis"] = "ok"
    except REDIS_DOWN_ERRORS as exc:
        runtime.redis_health.record_failure(exc)
        checks["redis"] = f"error: {type(exc).__name__}"
    db_ok = checks["database"] == "ok"
    status = "ok" if db_ok and checks["redis"] == "ok" else ("degraded" if db_ok else "down")
    return Response({"status": status, "checks": checks}, status_code=200 if db_ok else 503)


ROUTES: list[Any] = [
    resolve_digital_link,
    resolve_digital_link_with_lot,
    create_scan,
    health,
    ready,
]
