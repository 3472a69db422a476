"""Impossible travel: two scans of one code farther apart than ``impossible_travel_kmh`` allows
for the time between them, after subtracting both positions' uncertainty, make the code
``suspicious`` on the scan path — and it stays suspicious.

The scan clock (``gateway.service.utcnow``) is set by the test so that "10 minutes later" and
"5 hours later" need no waiting.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from litestar import Litestar

import gateway.service
from gateway.geo import Position, impossible_travel
from gateway.geoip_fixture import write_city_database
from kernel.geometry import haversine_m
from kernel.settings import Settings
from tests.factories.codes import codes_of, make_roll
from tests.factories.diversion import PLACES, AppClient, forget_redis, located_app, scan
from tests.factories.tenancy import make_brand, make_product

SHANGHAI = (31.2304, 121.4737)
BEIJING = (39.9042, 116.4074)  # ~1,070 km from Shanghai
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def city_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_city_database(tmp_path_factory.mktemp("geo") / "city.mmdb")


@pytest.fixture
async def geo(settings: Settings, city_db: Path) -> AsyncIterator[AppClient]:
    async with located_app(settings, city_db) as pair:
        yield pair


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[datetime], None]:
    """Set the time the scan path sees."""
    now = [T0]
    monkeypatch.setattr(gateway.service, "utcnow", lambda: now[0])

    def set_time(value: datetime) -> None:
        now[0] = value

    return set_time


async def _code(app: Litestar) -> tuple[str, list[str]]:
    brand = await make_brand(app)
    product = await make_product(app, brand)
    roll = await make_roll(app, brand, product, count=3)
    return product.gtin, codes_of(app, roll, product.gtin, range(3))


# ---------------------------------------------------------------------------------------------
# The rule
# ---------------------------------------------------------------------------------------------
def test_the_rule_on_the_issue_examples() -> None:
    sh, bj = Position(*SHANGHAI, 20.0), Position(*BEIJING, 20.0)
    ten_min, five_h = 10 * 60_000, 5 * 3_600_000
    assert impossible_travel(sh, 0, bj, ten_min, max_kmh=900)
    assert not impossible_travel(sh, 0, bj, five_h, max_kmh=900)
    # IP-only positions are provinces: neighbouring Shanghai and Hangzhou minutes apart is fine
    sh_ip, hz_ip = Position(*SHANGHAI, 500_000.0), Position(30.2741, 120.1551, 500_000.0)
    assert not impossible_travel(sh_ip, 0, hz_ip, 60_000, max_kmh=900)


positions = st.builds(
    Position,
    st.floats(-80, 80),
    st.floats(-179, 179),
    st.floats(0, 600_000),
)


@given(positions, positions, st.integers(0, 10**9), st.integers(0, 10**9))
def test_the_rule_is_symmetric_and_never_convicts_within_the_uncertainty(
    a: Position, b: Position, t1: int, t2: int
) -> None:
    verdict = impossible_travel(a, t1, b, t2, max_kmh=900)
    assert verdict == impossible_travel(b, t2, a, t1, max_kmh=900)
    if haversine_m(a.lat, a.lon, b.lat, b.lon) <= a.uncertainty_m + b.uncertainty_m:
        assert not verdict


@given(positions, positions, st.integers(0, 10**8), st.integers(1, 10**8))
def test_more_time_never_makes_travel_less_plausible(
    a: Position, b: Position, dt: int, extra: int
) -> None:
    if not impossible_travel(a, 0, b, dt, max_kmh=900):
        assert not impossible_travel(a, 0, b, dt + extra, max_kmh=900)


# ---------------------------------------------------------------------------------------------
# On the scan path (both backends)
# ---------------------------------------------------------------------------------------------
async def test_shanghai_then_beijing_ten_minutes_later_is_suspicious_and_stays_so(
    geo: AppClient, clock: Callable[[datetime], None]
) -> None:
    app, client = geo
    gtin, codes = await _code(app)
    first = await scan(client, gtin, codes[0], gps=(*SHANGHAI, 20.0), device="phone-a")
    assert first["verdict"] == "genuine"
    clock(T0 + timedelta(minutes=10))
    second = await scan(client, gtin, codes[0], gps=(*BEIJING, 20.0), device="phone-b")
    assert second["verdict"] == "suspicious"
    # Later scans from anywhere, even without a location, stay suspicious.
    clock(T0 + timedelta(days=2))
    third = await scan(client, gtin, codes[0], device="phone-a")
    assert third["verdict"] == "suspicious"
    # Another code scanned the same way is untouched.
    other = await scan(client, gtin, codes[1], gps=(*BEIJING, 20.0), device="phone-b")
    assert other["verdict"] == "genuine"


async def test_the_same_trip_in_five_hours_is_plausible(
    geo: AppClient, clock: Callable[[datetime], None]
) -> None:
    app, client = geo
    gtin, codes = await _code(app)
    await scan(client, gtin, codes[0], gps=(*SHANGHAI, 20.0), device="phone-a")
    clock(T0 + timedelta(hours=5))
    second = await scan(client, gtin, codes[0], gps=(*BEIJING, 20.0), device="phone-b")
    assert second["verdict"] == "already_scanned"


async def test_ip_only_scans_in_neighbouring_provinces_minutes_apart_are_not_suspicious(
    geo: AppClient, clock: Callable[[datetime], None]
) -> None:
    app, client = geo
    gtin, codes = await _code(app)
    await scan(client, gtin, codes[0], ip=PLACES["Shanghai"].host(), device="phone-a")
    clock(T0 + timedelta(minutes=3))
    second = await scan(client, gtin, codes[0], ip=PLACES["Hangzhou"].host(), device="phone-b")
    assert second["verdict"] == "already_scanned"
    # Even Shanghai → Beijing by IP alone within minutes: the IP positions' uncertainty
    # (a province each) covers most of the distance, so the code is not convicted.
    clock(T0 + timedelta(minutes=13))
    third = await scan(client, gtin, codes[0], ip=PLACES["Beijing"].host(), device="phone-c")
    assert third["verdict"] == "already_scanned"


async def test_a_gps_scan_far_beyond_an_ip_region_is_convicted(
    geo: AppClient, clock: Callable[[datetime], None]
) -> None:
    """IP in London, then GPS in Shanghai an hour later: 9,000 km minus 500 km is too far."""
    app, client = geo
    gtin, codes = await _code(app)
    await scan(client, gtin, codes[0], ip=PLACES["London"].host(), device="phone-a")
    clock(T0 + timedelta(hours=1))
    second = await scan(client, gtin, codes[0], gps=(*SHANGHAI, 20.0), device="phone-b")
    assert second["verdict"] == "suspicious"


async def test_redis_losing_the_code_falls_back_to_the_scan_log(
    geo: AppClient, clock: Callable[[datetime], None]
) -> None:
    """Redis forgets everything: the previous position comes from the database."""
    app, client = geo
    gtin, codes = await _code(app)
    await scan(client, gtin, codes[0], gps=(*SHANGHAI, 20.0), device="phone-a")
    await forget_redis(app)
    clock(T0 + timedelta(minutes=10))
    second = await scan(client, gtin, codes[0], gps=(*BEIJING, 20.0), device="phone-b")
    assert second["verdict"] == "suspicious"
    await forget_redis(app)
    clock(T0 + timedelta(days=1))
    third = await scan(client, gtin, codes[0], device="phone-a")
    assert third["verdict"] == "suspicious"  # the scan log remembers the conviction
