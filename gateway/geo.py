"""Where a scan happened: GPS from the mini-program when plausible, else GeoIP2 on the IP.

IP location is coarse (province at best on mobile networks), so only country and region are
trusted from it; GPS gives coordinates. The reader is optional: without a database file the
gateway works and records ``location_source = "none"`` for IP-only scans.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass

import geoip2.database
import geoip2.errors
import structlog

__all__ = ["GpsFix", "Locator", "ScanLocation"]

log = structlog.get_logger("gateway.geo")


@dataclass(frozen=True, slots=True)
class GpsFix:
    lat: float
    lon: float
    accuracy_m: float | None


@dataclass(frozen=True, slots=True)
class ScanLocation:
    source: str  # gps | ip | none
    confidence: float  # 0..1, how far to trust the place
    country: str | None = None
    region: str | None = None  # ISO 3166-2, e.g. CN-GD
    city: str | None = None
    lat: float | None = None
    lon: float | None = None
    accuracy_m: float | None = None

    @property
    def coarse_place(self) -> str | None:
        """What a consumer may be told: region or country, never coordinates."""
        return self.region or self.country


NOWHERE = ScanLocation(source="none", confidence=0.0)
MAX_GPS_ACCURACY_M = 5_000.0


def plausible_gps(fix: GpsFix | None) -> bool:
    if fix is None or not (math.isfinite(fix.lat) and math.isfinite(fix.lon)):
        return False
    if not (-90.0 <= fix.lat <= 90.0 and -180.0 <= fix.lon <= 180.0):
        return False
    if fix.lat == 0.0 and fix.lon == 0.0:  # "null island": an unset fix, not a place
        return False
    return fix.accuracy_m is None or 0.0 <= fix.accuracy_m <= MAX_GPS_ACCURACY_M


class Locator:
    """Created once at start-up; ``locate`` does no network I/O (a memory-mapped file read)."""

    def __init__(self, database_path: str | None) -> None:
        self._reader: geoip2.database.Reader | None = None
        if database_path:
            try:
                self._reader = geoip2.database.Reader(database_path)
            except (OSError, ValueError) as exc:
                log.error("gateway.geo.database_unreadable", path=database_path, error=str(exc))

    @property
    def has_database(self) -> bool:
        return self._reader is not None

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()

    def locate(self, ip: str, gps: GpsFix | None) -> ScanLocation:
        by_ip = self._by_ip(ip)
        if plausible_gps(gps):
            assert gps is not None
            accuracy = gps.accuracy_m if gps.accuracy_m is not None else 1_000.0
            return ScanLocation(
                source="gps",
                confidence=0.9 if accuracy <= 100 else 0.7 if accuracy <= 1_000 else 0.5,
                country=by_ip.country,
                region=by_ip.region,
                city=by_ip.city,
                lat=round(gps.lat, 6),
                lon=round(gps.lon, 6),
                accuracy_m=gps.accuracy_m,
            )
        return by_ip

    def _by_ip(self, ip: str) -> ScanLocation:
        if self._reader is None:
            return NOWHERE
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return NOWHERE
        if addr.is_private or addr.is_loopback:
            return NOWHERE
        try:
            city = self._reader.city(ip)
        except (geoip2.errors.AddressNotFoundError, ValueError):
            return NOWHERE
        country = city.country.iso_code
        sub = city.subdivisions.most_specific.iso_code
        region = f"{country}-{sub}" if country and sub else None
        return ScanLocation(
            source="ip",
            confidence=0.5 if region else 0.3,
            country=country,
            region=region,
            city=city.city.name,
        )
