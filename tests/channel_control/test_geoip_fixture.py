"""The project's own MaxMind-format City database, read by the real geoip2 reader."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.geo import Locator
from gateway.geoip_fixture import FIXTURE_PLACES, FixturePlace, write_city_database
from gateway.models import Scan
from kernel.settings import Settings
from tests.conftest import running_app
from tests.factories.codes import codes_of, make_roll
from tests.factories.tenancy import make_batch, make_brand, make_product


@pytest.fixture(scope="module")
def city_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_city_database(tmp_path_factory.mktemp("geo") / "city.mmdb")


@pytest.mark.parametrize("place", FIXTURE_PLACES, ids=lambda p: p.network)
def test_locator_reads_each_fixture_range(city_db: Path, place: FixturePlace) -> None:
    locator = Locator(str(city_db))
    try:
        location = locator.locate(place.host(), None)
    finally:
        locator.close()
    assert location.source == "ip"
    assert location.country == place.country
    assert location.region == place.region
    assert location.city == place.city


@pytest.mark.parametrize("ip", ["8.8.8.8", "1.1.1.1", "2001:4860::8888", "10.0.0.1", "junk"])
def test_locator_finds_nothing_outside_the_ranges(city_db: Path, ip: str) -> None:
    locator = Locator(str(city_db))
    try:
        location = locator.locate(ip, None)
    finally:
        locator.close()
    assert location.source == "none"
    assert location.country is None
    assert location.region is None


async def test_scan_through_a_trusted_proxy_records_the_ip_region(
    settings: Settings, city_db: Path
) -> None:
    guangzhou = FIXTURE_PLACES[0]
    settings = settings.with_overrides(gateway={"geoip_database": str(city_db)})
    async with running_app(settings, client_ip="127.0.0.1") as (app, client):
        brand = await make_brand(app)
        product = await make_product(app, brand)
        batch = await make_batch(app, brand, product)
        roll = await make_roll(app, brand, product, count=5, batch=batch)
        [code] = codes_of(app, roll, product.gtin, [0])
        response = await client.post(
            "/v1/scans",
            json={"url": f"https://id.example.test/01/{product.gtin}/21/{code}", "device_id": "d1"},
            headers={"X-Forwarded-For": f"{guangzhou.host()}, 127.0.0.1"},
        )
        assert response.status_code == 200, response.text
        async with app.state.session_factory() as session:
            scan = (await session.execute(select(Scan))).scalar_one()
    assert scan.ip == guangzhou.host()
    assert scan.region == "CN-GD"
    assert scan.location_source == "ip"
