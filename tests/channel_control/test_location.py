"""Where was the scan? GPS when present and plausible, else GeoIP (province / country only);
every scan records its source and confidence (seen through the admin scan history)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar

from gateway.geo import IP_REGION_UNCERTAINTY_M, GpsFix, Locator
from gateway.geoip_fixture import write_city_database
from kernel.settings import Settings
from tests.factories.codes import codes_of, make_roll
from tests.factories.diversion import PLACES, AppClient, located_app, scan
from tests.factories.tenancy import brand_admin, make_product

SHANGHAI_GPS = (31.2304, 121.4737)
BEIJING_GPS = (39.9042, 116.4074)


@pytest.fixture(scope="module")
def city_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_city_database(tmp_path_factory.mktemp("geo") / "city.mmdb")


@pytest.fixture
async def geo(settings: Settings, city_db: Path) -> AsyncIterator[AppClient]:
    async with located_app(settings, city_db) as pair:
        yield pair


async def _history(
    app: Litestar, client: httpx.AsyncClient, headers: dict[str, str], gtin: str, code: str
) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/admin/codes/{gtin}/{code}/scans", headers=headers)
    assert response.status_code == 200, response.text
    scans: list[dict[str, Any]] = response.json()["scans"]
    return scans


# ---------------------------------------------------------------------------------------------
# The locator on the project's MaxMind-format database
# ---------------------------------------------------------------------------------------------
def test_ip_location_is_region_level_with_a_province_sized_uncertainty(city_db: Path) -> None:
    locator = Locator(str(city_db))
    try:
        where = locator.locate(PLACES["Hangzhou"].host(), None)
        country_only = locator.locate(PLACES["CN"].host(), None)
    finally:
        locator.close()
    assert (where.source, where.region, where.lat, where.lon) == ("ip", "CN-ZJ", None, None)
    assert where.confidence == 0.5
    assert where.position is not None
    assert where.position.uncertainty_m >= IP_REGION_UNCERTAINTY_M
    assert (country_only.source, country_only.region, country_only.country) == ("ip", None, "CN")
    assert country_only.confidence == 0.3
    assert country_only.position is not None
    assert country_only.position.uncertainty_m > where.position.uncertainty_m


@pytest.mark.parametrize(
    ("fix", "source"),
    [
        (GpsFix(31.2304, 121.4737, 15.0), "gps"),
        (GpsFix(31.2304, 121.4737, None), "gps"),  # no accuracy: used, less trusted
        (GpsFix(31.2304, 121.4737, 25_000.0), "ip"),  # accuracy too large
        (GpsFix(95.0, 121.4737, 10.0), "ip"),  # latitude out of range
        (GpsFix(31.2, 200.0, 10.0), "ip"),  # longitude out of range
        (GpsFix(0.0, 0.0, 10.0), "ip"),  # "null island": an unset fix
        (GpsFix(float("nan"), 121.4, 10.0), "ip"),
        (GpsFix(31.2, 121.4, -5.0), "ip"),  # negative accuracy
    ],
)
def test_gps_is_used_only_when_plausible(city_db: Path, fix: GpsFix, source: str) -> None:
    locator = Locator(str(city_db))
    try:
        where = locator.locate(PLACES["Shanghai"].host(), fix)
    finally:
        locator.close()
    assert where.source == source
    assert where.region == "CN-SH"  # the GPS fix agrees with the IP, or the IP is all there is
    if source == "gps":
        assert (where.lat, where.lon) == (31.2304, 121.4737)
        assert where.confidence == (0.9 if fix.accuracy_m == 15.0 else 0.7)
    else:
        assert where.lat is None
        assert where.confidence == 0.5


def test_gps_far_from_the_ip_location_keeps_no_ip_region(city_db: Path) -> None:
    """A Beijing phone whose (home-province) IP is in Guangdong: the region is not CN-GD."""
    locator = Locator(str(city_db))
    try:
        where = locator.locate(PLACES["Guangzhou"].host(), GpsFix(*BEIJING_GPS, 20.0))
    finally:
        locator.close()
    assert where.source == "gps"
    assert (where.country, where.region, where.city) == (None, None, None)
    assert (where.lat, where.lon) == BEIJING_GPS


def test_no_database_means_no_location_but_gps_still_counts() -> None:
    locator = Locator(None)
    assert locator.locate(PLACES["Shanghai"].host(), None).source == "none"
    where = locator.locate(PLACES["Shanghai"].host(), GpsFix(*SHANGHAI_GPS, 30.0))
    assert (where.source, where.region, where.confidence) == ("gps", None, 0.9)


# ---------------------------------------------------------------------------------------------
# End to end: what the scan log records, read through the admin scan history
# ---------------------------------------------------------------------------------------------
async def test_scans_record_source_and_confidence(
    geo: AppClient,
) -> None:
    app, client = geo
    brand, admin = await brand_admin(app, client)
    product = await make_product(app, brand)
    roll = await make_roll(app, brand, product, count=6)
    codes = codes_of(app, roll, product.gtin, range(6))
    shanghai = PLACES["Shanghai"].host()

    await scan(client, product.gtin, codes[0], ip=shanghai, gps=(*SHANGHAI_GPS, 12.0))
    await scan(client, product.gtin, codes[1], ip=shanghai)
    await scan(client, product.gtin, codes[2], ip=shanghai, gps=(*SHANGHAI_GPS, 50_000.0))
    await scan(client, product.gtin, codes[3], ip="10.1.2.3")  # private: not locatable
    await scan(client, product.gtin, codes[4], ip=PLACES["CN"].host())  # country-level block
    await scan(client, product.gtin, codes[5], ip=shanghai, gps=(*BEIJING_GPS, 12.0))

    got = [(await _history(app, client, admin, product.gtin, c))[0] for c in codes]
    fields = [
        (s["location_source"], s["location_confidence"], s["country"], s["region"], s["lat"])
        for s in got
    ]
    assert fields == [
        ("gps", 0.9, "CN", "CN-SH", SHANGHAI_GPS[0]),
        ("ip", 0.5, "CN", "CN-SH", None),
        ("ip", 0.5, "CN", "CN-SH", None),  # implausible GPS (50 km accuracy) → the IP
        ("none", 0.0, None, None, None),
        ("ip", 0.3, "CN", None, None),
        ("gps", 0.9, None, None, BEIJING_GPS[0]),  # the Shanghai IP says nothing about Beijing
    ]
    assert got[0]["accuracy_m"] == 12.0


async def test_out_of_range_gps_in_the_request_is_a_400_not_a_fallback(
    geo: AppClient,
) -> None:
    """Coordinates outside the globe are malformed input (the schema bounds them); a fix that
    is merely too imprecise is accepted and falls back to the IP (test above)."""
    app, client = geo
    brand, _ = await brand_admin(app, client)
    product = await make_product(app, brand)
    roll = await make_roll(app, brand, product, count=1)
    [code] = codes_of(app, roll, product.gtin, [0])
    response = await client.post(
        "/v1/scans",
        json={
            "url": f"https://id.example.test/01/{product.gtin}/21/{code}",
            "device_id": "phone-0001",
            "location": {"lat": 123.0, "lon": 10.0, "accuracy_m": 5.0},
        },
    )
    assert response.status_code == 400, response.text
    assert "location" in response.json().get("field", "")
