"""Scan gateway routes: the mini-program scan API and health (the GS1 resolver, which answers
the printed Digital Links, is ``gateway.resolver.routes``)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.params import JSONBody
from sqlalchemy import text

from gateway.scan_request import api_scan
from gateway.schemas import ScanIn, ScanResult, to_result
from gateway.service import ScanService
from kernel.cache import REDIS_DOWN_ERRORS
from kernel.db import utcnow
from kernel.runtime import Runtime
from kernel.settings import Settings

__all__ = ["ROUTES"]


VERDICT_STATUS = 200  # every verdict is a successful answer; the verdict field carries it


def _scans(state: State) -> ScanService:
    service: ScanService = state.scans
    return service


def _peer(request: Request[Any, Any, Any]) -> str | None:
    return request.client.host if request.client else None


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
    """Liveness (no I/O). Reports degraded mode when Redis has been failing (a background
    probe notices its recovery), and where the scan rate limits are counted: `redis`, or
    `in_process` (each server process its share) while Redis is down."""
    runtime: Runtime = state.runtime
    scans = _scans(state)
    redis = runtime.redis_health.snapshot()
    return {
        "status": "ok" if redis["state"] == "up" else "degraded",
        "redis": redis,
        "rate_limits": "redis" if runtime.redis_health.available else "in_process",
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
    create_scan,
    health,
    ready,
]
