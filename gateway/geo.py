"""Where a scan happened: GPS from the mini-program when plausible, else GeoIP2 on the IP.

IP location is coarse (province at best on mobile networks), so only country and region are
trusted from it; GPS gives coordinates. The reader is optional: without a database file the
gateway works and records ``location_source = "none"`` for IP-only scans.

A GPS scan keeps the IP's country / region / city only when the fix lies within the IP
record's own accuracy radius of the IP location: mobile IPs are often allocated in the
subscriber's home province, so a traveller's IP region says nothing about where the phone is.
Without a reverse geocoder a GPS fix far from its IP location has no region (the territory
check then uses geofences only).

Every located scan also has a ``position`` for impossible-travel checks: the GPS fix with its
accuracy, or the IP location with a deliberately large uncertainty (a province, or a country).
"""

from __future__ import annotations

import functools
import ipaddress
import math
from dataclasses import dataclass

import geoip2.database
import geoip2.errors
import structlog

from kernel.geometry import haversine_m

__all__ = [
    "IP_COUNTRY_UNCERTAINTY_M",
    "IP_REGION_UNCERTAINTY_M",
    "GpsFix",
    "Locator",
    "Position",
    "ScanLocation",
    "impossible_travel",
    "plausible_gps",
]

log = structlog.get_logger("gateway.geo")


@dataclass(frozen=True, slots=True)
class GpsFix:
    lat: float
    lon: float
    accuracy_m: float | None


@dataclass(frozen=True, slots=True)
class Position:
    """A point and how far off it may be (metres): what impossible travel compares."""

    lat: float
    lon: float
    uncertainty_m: float


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
    position: Position | None = None  # for travel checks, never shown or stored as a place

    @property
    def coarse_place(self) -> str | None:
        """What a consumer may be told: region or country, never coordinates."""
        return self.region or self.country


NOWHERE = ScanLocation(source="none", confidence=0.0)
IP_CACHE_SIZE = 65_536
MAX_GPS_ACCURACY_M = 5_000.0
DEFAULT_GPS_ACCURACY_M = 1_000.0  # a fix sent without its accuracy
# IP positions are a province or a country, not a point: radii chosen to cover a large
# province (Xinjiang is ~1,700 km across; most are well under 1,000 km) and a large country.
IP_REGION_UNCERTAINTY_M = 500_000.0
IP_COUNTRY_UNCERTAINTY_M = 2_500_000.0


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
        # Mobile carriers put many phones behind few addresses (CGNAT) and the database never
        # changes under a running process: remember recent answers (a lookup builds a whole
        # geoip2 City model, ~5% of a located scan's time).
        self._by_ip = functools.lru_cache(maxsize=IP_CACHE_SIZE)(self._lookup_ip)
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
        by_ip, ip_radius_m = self._by_ip(ip)
        if plausible_gps(gps):
            assert gps is not None
            accuracy = gps.accuracy_m if gps.accuracy_m is not None else DEFAULT_GPS_ACCURACY_M
            lat, lon = round(gps.lat, 6), round(gps.lon, 6)
            ip_pos = by_ip.position
            agrees = (
                ip_pos is not None
                and haversine_m(lat, lon, ip_pos.lat, ip_pos.lon) <= ip_radius_m + accuracy
            )
            return ScanLocation(
                source="gps",
                confidence=0.9 if accuracy <= 100 else 0.7 if accuracy <= 1_000 else 0.5,
                country=by_ip.country if agrees else None,
                region=by_ip.region if agrees else None,
                city=by_ip.city if agrees else None,
                lat=lat,
                lon=lon,
                accuracy_m=gps.accuracy_m,
                position=Position(lat, lon, accuracy),
            )
        return by_ip

    def _lookup_ip(self, ip: str) -> tuple[ScanLocation, float]:
        """The IP's place and the record's own accuracy radius in metres (0 if none)."""
        if self._reader is None:
            return NOWHERE, 0.0
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return NOWHERE, 0.0
        if addr.is_private or addr.is_loopback:
            return NOWHERE, 0.0
        try:
            city = self._reader.city(ip)
        except (geoip2.errors.AddressNotFoundError, ValueError):
            return NOWHERE, 0.0
        country = city.country.iso_code
        sub = city.subdivisions.most_specific.iso_code
        region = f"{country}-{sub}" if country and sub else None
        where = city.location
        radius_m = float(where.accuracy_radius or 0) * 1_000.0
        position = None
        if where.latitude is not None and where.longitude is not None and country:
            floor = IP_REGION_UNCERTAINTY_M if region else IP_COUNTRY_UNCERTAINTY_M
            position = Position(where.latitude, where.longitude, max(radius_m, floor))
        location = ScanLocation(
            source="ip",
            confidence=0.5 if region else 0.3,
            country=country,
            region=region,
            city=city.city.name,
            position=position,
        )
        return location, radius_m


def impossible_travel(
    before: Position, before_ms: int, after: Position, after_ms: int, *, max_kmh: float
) -> bool:
    """Could nobody have carried the code from ``before`` to ``after`` in the time between?

    The distance is shrunk by both positions' uncertainty first, so coarse (IP) positions
    rarely convict; the scan script (``gateway.hotstate.SCAN_SCRIPT``) applies the same rule.
    """
    distance_m = haversine_m(before.lat, before.lon, after.lat, after.lon)
    slack_m = distance_m - before.uncertainty_m - after.uncertainty_m
    if slack_m <= 0:
        return False
    hours = abs(after_ms - before_ms) / 3_600_000.0
    return slack_m > max_kmh * 1_000.0 * hours
