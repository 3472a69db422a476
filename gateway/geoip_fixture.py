"""A small MaxMind-format City database the project builds itself (tests, demo, benchmarks).

The real ``geoip2.database.Reader`` reads it: records have the GeoIP2 City layout
(``country.iso_code``, ``subdivisions[0].iso_code`` without the country prefix, as MaxMind
stores it, ``city.names.en``, ``location``). The ranges are *fixtures*, not geography: they
are public (non-private) blocks picked so that ``gateway.geo`` does not skip them — the
RFC 5737 documentation ranges count as private in Python's ``ipaddress`` and are never
located.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["FIXTURE_PLACES", "FixturePlace", "write_city_database"]


@dataclass(frozen=True, slots=True)
class FixturePlace:
    network: str  # CIDR
    country: str  # ISO 3166-1 alpha-2
    subdivision: str | None  # ISO 3166-2 suffix (GD for CN-GD)
    city: str | None
    lat: float
    lon: float

    @property
    def region(self) -> str | None:
        return f"{self.country}-{self.subdivision}" if self.subdivision else None

    def host(self, n: int = 10) -> str:
        """The ``n``-th address of the network (a client IP inside this place)."""
        return str(ipaddress.ip_network(self.network)[n])


FIXTURE_PLACES: tuple[FixturePlace, ...] = (
    FixturePlace("58.60.0.0/16", "CN", "GD", "Guangzhou", 23.1291, 113.2644),
    FixturePlace("58.61.0.0/16", "CN", "GD", "Shenzhen", 22.5431, 114.0579),
    FixturePlace("60.176.0.0/16", "CN", "ZJ", "Hangzhou", 30.2741, 120.1551),
    FixturePlace("61.129.0.0/16", "CN", "SH", "Shanghai", 31.2304, 121.4737),
    FixturePlace("61.135.0.0/16", "CN", "BJ", "Beijing", 39.9042, 116.4074),
    FixturePlace("36.96.0.0/16", "CN", None, None, 35.0, 105.0),  # country-level only
    FixturePlace("64.233.160.0/19", "US", "CA", "Mountain View", 37.3861, -122.0839),
    FixturePlace("81.2.69.0/24", "GB", "ENG", "London", 51.5074, -0.1278),
    FixturePlace("2400:da00::/32", "CN", "GD", "Guangzhou", 23.1291, 113.2644),
)


def _record(place: FixturePlace) -> dict[str, Any]:
    from mmdb_writer import MmdbF64

    record: dict[str, Any] = {
        "country": {"iso_code": place.country, "names": {"en": place.country}},
        "location": {
            "latitude": MmdbF64(place.lat),
            "longitude": MmdbF64(place.lon),
            "accuracy_radius": 100,
        },
    }
    if place.subdivision:
        record["subdivisions"] = [{"iso_code": place.subdivision, "names": {"en": place.region}}]
    if place.city:
        record["city"] = {"names": {"en": place.city}}
    return record


def write_city_database(
    path: str | Path, places: tuple[FixturePlace, ...] = FIXTURE_PLACES
) -> Path:
    """Write a GeoIP2-City-format database with ``places`` to ``path``; return the path.

    An IPv6 tree with IPv4 mapped in (as MaxMind's own City databases), so both address
    families resolve.
    """
    # Imported here: build-time tools, not needed by the running server.
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type="GeoIP2-City",
        languages=["en"],
        description="scanguard test fixture (not real geography)",
    )
    for place in places:
        writer.insert_network(IPSet([place.network]), _record(place))
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    writer.to_db_file(str(target))
    return target
