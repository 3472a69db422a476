"""One request adapter for both scan fronts: the Litestar routes (``gateway.routes``) and the
ASGI fast path (``gateway.fastpath``) read the transport (peer address, headers, body) their
own way, then turn it into a ``ScanContext`` here, so both resolve a scan identically."""

from __future__ import annotations

from anticounterfeit.gs1.digital_link import DigitalLink, parse_digital_link
from gateway.geo import GpsFix
from gateway.schemas import ScanIn
from gateway.service import ScanContext
from kernel.client_ip import client_ip
from kernel.settings import Settings

__all__ = ["api_scan", "scan_context"]


def scan_context(
    settings: Settings,
    *,
    peer: str | None,
    forwarded_for: str | None,
    user_agent: str | None,
    device_id: str,
    channel: str,
    gps: GpsFix | None = None,
) -> ScanContext:
    """Who scanned and how, from the request's transport facts (``peer``: the socket's
    address; ``forwarded_for``: the ``X-Forwarded-For`` header, trusted per settings)."""
    return ScanContext(
        ip=client_ip(peer, forwarded_for, settings.gateway.trusted_proxies),
        device_id=device_id,
        channel=channel,
        user_agent=user_agent,
        gps=gps,
    )


def api_scan(
    data: ScanIn,
    settings: Settings,
    *,
    peer: str | None,
    forwarded_for: str | None,
    user_agent: str | None,
) -> tuple[DigitalLink, ScanContext]:
    """``POST /v1/scans``: the scanned link (a 422 problem naming ``url`` when malformed) and
    the scan's context (always JSON)."""
    link = parse_digital_link(data.url, field="url")
    location = data.location
    ctx = scan_context(
        settings,
        peer=peer,
        forwarded_for=forwarded_for,
        user_agent=user_agent,
        device_id=data.device_id,
        channel="json",
        gps=GpsFix(location.lat, location.lon, location.accuracy_m) if location else None,
    )
    return link, ctx
