"""Client addresses by region for load tests (sent as ``X-Forwarded-For``).

The gateway believes ``X-Forwarded-For`` only from a trusted proxy (127.0.0.1 by default), so
load generators on the same machine pass for a proxy and the scans carry these client
addresses: the client-IP function, the per-IP rate limit and, when a GeoIP database is
configured (``SCANGUARD_GEOIP_DATABASE``), geolocation all run as in production.

The blocks are public ranges registered (APNIC / RIPE / ARIN) to ISPs serving these places;
which place a GeoIP database assigns them is that database's business; the benchmark and load
tests give the server the small database of ``write_region_database`` that puts each block in
its region. Weights follow the mix of a China-first brand with some export traffic.
"""

from __future__ import annotations

import ipaddress
import random
from pathlib import Path

from gateway.geoip_fixture import FixturePlace, write_city_database

__all__ = [
    "REGIONS",
    "REGION_PLACES",
    "Region",
    "client_ip_in",
    "client_ip_outside",
    "random_client_ip",
    "write_region_database",
]

Region = tuple[str, str, int]  # (name, CIDR block, weight)

REGIONS: tuple[Region, ...] = (
    ("CN-GD Guangdong", "113.108.0.0/16", 20),
    ("CN-BJ Beijing", "123.112.0.0/16", 15),
    ("CN-SH Shanghai", "101.80.0.0/16", 15),
    ("CN-ZJ Zhejiang", "115.192.0.0/16", 12),
    ("CN-SC Sichuan", "125.64.0.0/16", 10),
    ("CN-HB Hubei", "27.16.0.0/16", 8),
    ("HK Hong Kong", "203.198.0.0/16", 5),
    ("SG Singapore", "116.88.0.0/16", 5),
    ("DE Germany", "91.64.0.0/16", 5),
    ("US United States", "24.0.0.0/16", 5),
)

# Where a GeoIP database built for load tests puts each block (the capital of the region).
REGION_PLACES: tuple[FixturePlace, ...] = (
    FixturePlace("113.108.0.0/16", "CN", "GD", "Guangzhou", 23.1291, 113.2644),
    FixturePlace("123.112.0.0/16", "CN", "BJ", "Beijing", 39.9042, 116.4074),
    FixturePlace("101.80.0.0/16", "CN", "SH", "Shanghai", 31.2304, 121.4737),
    FixturePlace("115.192.0.0/16", "CN", "ZJ", "Hangzhou", 30.2741, 120.1551),
    FixturePlace("125.64.0.0/16", "CN", "SC", "Chengdu", 30.5728, 104.0668),
    FixturePlace("27.16.0.0/16", "CN", "HB", "Wuhan", 30.5928, 114.3055),
    FixturePlace("203.198.0.0/16", "HK", None, "Hong Kong", 22.3193, 114.1694),
    FixturePlace("116.88.0.0/16", "SG", None, "Singapore", 1.3521, 103.8198),
    FixturePlace("91.64.0.0/16", "DE", "BE", "Berlin", 52.52, 13.405),
    FixturePlace("24.0.0.0/16", "US", "NY", "New York", 40.7128, -74.006),
)


def write_region_database(path: str | Path) -> Path:
    """A MaxMind-format City database locating the blocks of ``REGIONS`` (for the server
    under load: ``SCANGUARD_GEOIP_DATABASE``)."""
    return write_city_database(path, REGION_PLACES)


_NETWORKS = [ipaddress.ip_network(cidr) for _, cidr, _ in REGIONS]
_WEIGHTS = [weight for _, _, weight in REGIONS]


def _host(net: ipaddress.IPv4Network | ipaddress.IPv6Network, r: random.Random) -> str:
    return str(net.network_address + r.randrange(1, net.num_addresses - 1))


def random_client_ip(rng: random.Random | None = None) -> str:
    """A random host address from a region drawn by weight."""
    r = rng or random
    (net,) = r.choices(_NETWORKS, weights=_WEIGHTS)
    return _host(net, r)  # type: ignore[arg-type]


def client_ip_in(region: str, rng: random.Random | None = None) -> str:
    """A random host address of the block placed in ``region`` (e.g. ``CN-GD``)."""
    (net,) = [
        n for (name, _, _), n in zip(REGIONS, _NETWORKS, strict=True) if name.split()[0] == region
    ]
    return _host(net, rng or random)  # type: ignore[arg-type]


def client_ip_outside(region: str, rng: random.Random | None = None) -> str:
    """A random host address from a region other than ``region``, drawn by weight."""
    r = rng or random
    others = [
        (n, w)
        for (name, _, w), n in zip(REGIONS, _NETWORKS, strict=True)
        if name.split()[0] != region
    ]
    (net,) = r.choices([n for n, _ in others], weights=[w for _, w in others])
    return _host(net, r)  # type: ignore[arg-type]


if __name__ == "__main__":  # python -m loadtests.regions var/loadtest-regions.mmdb
    import sys

    target = write_region_database(sys.argv[1] if len(sys.argv) > 1 else "var/regions.mmdb")
    print(f"wrote {target}: set SCANGUARD_GEOIP_DATABASE={target} for the server under load")
