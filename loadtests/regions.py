"""Client addresses by region for load tests (sent as ``X-Forwarded-For``).

The gateway believes ``X-Forwarded-For`` only from a trusted proxy (127.0.0.1 by default), so
load generators on the same machine pass for a proxy and the scans carry these client
addresses: the client-IP function, the per-IP rate limit and, when a GeoIP database is
configured (``SCANGUARD_GEOIP_DATABASE``), geolocation all run as in production.

The blocks are public ranges registered (APNIC / RIPE / ARIN) to ISPs serving these places;
which place a GeoIP database assigns them is that database's business. Weights follow the
mix of a China-first brand with some export traffic.
"""

from __future__ import annotations

import ipaddress
import random

__all__ = ["REGIONS", "Region", "random_client_ip"]

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

_NETWORKS = [ipaddress.ip_network(cidr) for _, cidr, _ in REGIONS]
_WEIGHTS = [weight for _, _, weight in REGIONS]


def random_client_ip(rng: random.Random | None = None) -> str:
    """A random host address from a region drawn by weight."""
    r = rng or random
    (net,) = r.choices(_NETWORKS, weights=_WEIGHTS)
    return str(net.network_address + r.randrange(1, net.num_addresses - 1))
