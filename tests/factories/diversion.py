"""Factories for diversion tests: shipped goods, located consumer scans, flushed signals.

Goods are issued through the rolls service, shipped through the shipment API
(``tests.factories.shipping.ship``), and scanned through ``POST /v1/scans`` with a
client IP in ``X-Forwarded-For`` (the app must trust the test client as a proxy:
``running_app(settings, client_ip="127.0.0.1")``) and optionally a GPS fix.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from litestar import Litestar

from anticounterfeit.catalogue.models import Batch, Brand, Product
from anticounterfeit.codes.models import CodeRoll
from channel_control.distributors.models import Distributor
from gateway.geoip_fixture import FIXTURE_PLACES, FixturePlace
from kernel.settings import Settings
from tests.conftest import running_app
from tests.factories.channel import make_distributor
from tests.factories.codes import codes_of, make_roll
from tests.factories.shipping import ship
from tests.factories.tenancy import brand_admin, make_batch, make_product

__all__ = [
    "PLACES",
    "AppClient",
    "ShippedGoods",
    "flush_diversion",
    "forget_redis",
    "located_app",
    "scan",
    "ship_range",
    "shipped_goods",
]

PLACES: dict[str, FixturePlace] = {p.city or p.country: p for p in FIXTURE_PLACES}  # by city
AppClient = tuple[Litestar, httpx.AsyncClient]


@asynccontextmanager
async def located_app(
    settings: Settings, city_db: Path, **overrides: Any
) -> AsyncIterator[AppClient]:
    """The app reading the GeoIP database ``city_db``, its client seen as a trusted proxy
    (so ``X-Forwarded-For`` names the consumer's address)."""
    located = settings.with_overrides(gateway={"geoip_database": str(city_db)}, **overrides)
    async with running_app(located, client_ip="127.0.0.1") as pair:
        yield pair


@dataclass(slots=True)
class ShippedGoods:
    brand: Brand
    admin: dict[str, str]
    product: Product
    batch: Batch
    roll: CodeRoll
    distributor: Distributor
    codes: list[str]  # codes of the roll, positions 0..n-1; the first ``shipped`` are shipped
    shipment_id: uuid.UUID


async def ship_range(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    roll: CodeRoll,
    distributor: Distributor,
    seq_start: int,
    seq_end: int,
) -> uuid.UUID:
    """Ship positions [seq_start, seq_end) of ``roll`` to ``distributor`` through the
    shipment API (outbound); returns the shipment id."""
    out = await ship(
        client,
        admin,
        to=distributor,
        ranges=[{"roll_id": str(roll.id), "seq_start": seq_start, "seq_end": seq_end}],
    )
    return uuid.UUID(out["shipment"]["id"])


async def shipped_goods(
    app: Litestar,
    client: httpx.AsyncClient,
    *,
    regions: tuple[str, ...] = ("CN-GD",),
    count: int = 12,
    shipped: int | None = None,
    brand: Brand | None = None,
) -> ShippedGoods:
    """A brand (admin logged in), a product, a batch, a roll of ``count`` active codes, a
    distributor whose territory is ``regions``, and the first ``shipped`` codes (default all)
    shipped to it."""
    brand, admin = await brand_admin(app, client, brand)
    product = await make_product(app, brand, name="Moutai 500ml")
    batch = await make_batch(app, brand, product)
    roll = await make_roll(app, brand, product, count=count, batch=batch)
    distributor = await make_distributor(app, brand, regions=regions)
    shipment_id = await ship_range(
        client, admin, roll, distributor, 0, count if shipped is None else shipped
    )
    return ShippedGoods(
        brand=brand,
        admin=admin,
        product=product,
        batch=batch,
        roll=roll,
        distributor=distributor,
        codes=codes_of(app, roll, product.gtin, range(count)),
        shipment_id=shipment_id,
    )


async def scan(
    client: httpx.AsyncClient,
    gtin: str,
    code: str,
    *,
    ip: str | None = None,
    gps: tuple[float, float, float | None] | None = None,
    device: str = "phone-0001",
) -> dict[str, Any]:
    """A mini-program scan from client address ``ip`` (via the trusted proxy) with an
    optional GPS fix (lat, lon, accuracy_m); returns the JSON answer."""
    body: dict[str, Any] = {
        "url": f"https://id.example.test/01/{gtin}/21/{code}",
        "device_id": device,
    }
    if gps is not None:
        body["location"] = {"lat": gps[0], "lon": gps[1], "accuracy_m": gps[2]}
    headers = {"X-Forwarded-For": f"{ip}, 127.0.0.1"} if ip else {}
    response = await client.post("/v1/scans", json=body, headers=headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def flush_diversion(app: Litestar) -> int:
    """Write the buffered signals and tallies now (the background task does it every
    ``diversion_flush_interval_s``); returns the alerts opened."""
    opened: int = await app.state.diversion.flush()
    return opened


async def forget_redis(app: Litestar) -> None:
    """Delete this app's Redis keys (its prefix only: the server may be shared)."""
    runtime = app.state.runtime
    keys = [k async for k in runtime.redis.scan_iter(match=f"{runtime.settings.redis.prefix}*")]
    if keys:
        await runtime.redis.delete(*keys)
