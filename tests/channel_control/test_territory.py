"""territory_contains: regions, cities, geofences, three-valued answers (unit + properties)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channel_control.distributors.territory import (
    Circle,
    CityArea,
    Territory,
    make_circle,
    make_polygon,
    make_territory,
    point_in_polygon,
    territory_contains,
    validate_region_code,
)
from kernel.errors import InvalidInput
from kernel.geometry import haversine_m


def contains(territory: Territory, **place: object) -> bool | None:
    observed: dict[str, object] = {
        "country": None,
        "region": None,
        "city": None,
        "lat": None,
        "lon": None,
    }
    observed.update(place)
    return territory_contains(territory, **observed)  # type: ignore[arg-type]


GD = Territory(regions=frozenset({"CN-GD"}))
CN = Territory(regions=frozenset({"CN"}))
# Roughly Guangzhou's urban core, as (lat, lon).
GUANGZHOU = make_polygon(
    [[23.0, 113.1], [23.0, 113.5], [23.3, 113.5], [23.3, 113.1]], field_name="g"
)


def test_country_contains_its_subdivisions() -> None:
    assert contains(CN, region="CN-GD") is True
    assert contains(CN, country="CN") is True
    assert contains(CN, country="US", region="US-CA") is False
    assert contains(CN, region="US-CA") is False  # the region implies its country


def test_subdivision_does_not_contain_a_sibling() -> None:
    assert contains(GD, region="CN-GD") is True
    assert contains(GD, region="CN-ZJ") is False


def test_ip_located_scan_with_only_a_country() -> None:
    assert contains(GD, country="CN") is None  # could be Guangdong or not
    assert contains(GD, country="US") is False  # certainly not Guangdong
    assert contains(GD) is None


def test_cities_are_checked_inside_their_region() -> None:
    hangzhou = make_territory([], [CityArea(region="CN-ZJ", name="Hangzhou")], [])
    assert contains(hangzhou, region="CN-ZJ", city="hangzhou") is True
    assert contains(hangzhou, region="CN-ZJ", city="Ningbo") is False
    assert contains(hangzhou, region="CN-GD", city="Hangzhou") is False
    assert contains(hangzhou, region="CN-ZJ") is None  # the IP gave no city
    assert contains(hangzhou, country="CN", city="Hangzhou") is None


def test_geofences_need_a_gps_position() -> None:
    fenced = Territory(geofences=(GUANGZHOU, make_circle(22.54, 114.06, 20_000, field_name="c")))
    assert contains(fenced, lat=23.13, lon=113.26) is True  # in the polygon
    assert contains(fenced, lat=22.6, lon=114.0) is True  # in the circle (Shenzhen)
    assert contains(fenced, lat=30.27, lon=120.16) is False  # Hangzhou
    assert contains(fenced, region="CN-GD") is None  # IP-located: a fence cannot be judged


def test_union_of_areas() -> None:
    mixed = Territory(regions=frozenset({"CN-ZJ"}), geofences=(GUANGZHOU,))
    assert contains(mixed, region="CN-ZJ") is True
    assert contains(mixed, region="CN-GD", lat=23.13, lon=113.26) is True
    assert contains(mixed, region="CN-SH", lat=31.23, lon=121.47) is False
    assert contains(mixed, region="CN-SH") is None  # the fence might hold it


def test_empty_territory_contains_nothing() -> None:
    assert contains(Territory(), region="CN-GD", lat=1.0, lon=1.0) is False


@pytest.mark.parametrize("code", ["CN", "CN-GD", "GB-ENG", "US-CA", "FR-75"])
def test_valid_region_codes(code: str) -> None:
    assert validate_region_code(code) == code


@pytest.mark.parametrize("code", ["cn", "CHN", "CN-", "CN-GDXX", "CN_GD", "", "C1"])
def test_invalid_region_codes(code: str) -> None:
    with pytest.raises(InvalidInput) as info:
        validate_region_code(code)
    assert info.value.code == "invalid_region"


@pytest.mark.parametrize(
    "points",
    [
        [[0, 0], [1, 1]],
        [[0, 0], [1, 1], [0, 0]],
        [[0, 0], [1, 1], [1, 1], [0, 0]],
        [[91, 0], [1, 1], [2, 0]],
        [[0, -179], [1, 179], [2, 0]],
        [[0, 0, 0], [1, 1], [2, 0]],
    ],
)
def test_invalid_polygons(points: list[list[float]]) -> None:
    with pytest.raises(InvalidInput) as info:
        make_polygon(points, field_name="territory.geofences.0")
    assert info.value.code == "invalid_geofence"


@pytest.mark.parametrize(("lat", "lon", "radius"), [(0, 0, 0), (0, 0, -1), (95, 0, 10)])
def test_invalid_circles(lat: float, lon: float, radius: float) -> None:
    with pytest.raises(InvalidInput):
        make_circle(lat, lon, radius, field_name="c")


def test_haversine_known_distance() -> None:
    # Guangzhou → Beijing is about 1,890 km.
    assert haversine_m(23.1291, 113.2644, 39.9042, 116.4074) == pytest.approx(1_890_000, rel=0.01)
    assert haversine_m(10, 10, 10, 10) == 0.0


def test_point_in_concave_polygon() -> None:
    # A "U": the notch between the arms is outside.
    ring = [(0.0, 0.0), (0.0, 3.0), (3.0, 3.0), (3.0, 2.0), (1.0, 2.0), (1.0, 1.0), (3.0, 1.0),
            (3.0, 0.0)]  # fmt: skip
    assert point_in_polygon(0.5, 1.5, ring) is True
    assert point_in_polygon(2.0, 1.5, ring) is False
    assert point_in_polygon(2.0, 0.5, ring) is True
    assert point_in_polygon(0.0, 1.5, ring) is True  # on an edge


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------
lats = st.floats(min_value=-80, max_value=80, allow_nan=False)
lons = st.floats(min_value=-170, max_value=170, allow_nan=False)
countries = st.sampled_from(["CN", "US", "GB"])
subs = st.sampled_from(["GD", "ZJ", "SH", "CA"])


@given(lat=lats, lon=lons, radius=st.floats(min_value=1, max_value=1_000_000))
def test_circle_contains_its_centre_and_not_far_points(
    lat: float, lon: float, radius: float
) -> None:
    circle = Circle(lat=lat, lon=lon, radius_m=radius)
    assert circle.contains(lat, lon)
    # A point 10 % beyond the radius due north (or south near the pole) is outside.
    d_lat = math.degrees(radius * 1.1 / 6_371_008.8)
    other = lat + d_lat if lat + d_lat <= 90 else lat - d_lat
    assert not circle.contains(other, lon)


@given(
    lat0=lats,
    lon0=lons,
    h=st.floats(min_value=0.001, max_value=5),
    w=st.floats(min_value=0.001, max_value=5),
    fx=st.floats(min_value=0.01, max_value=0.99),
    fy=st.floats(min_value=0.01, max_value=0.99),
)
def test_rectangle_contains_interior_points_only(
    lat0: float, lon0: float, h: float, w: float, fx: float, fy: float
) -> None:
    ring = [(lat0, lon0), (lat0, lon0 + w), (lat0 + h, lon0 + w), (lat0 + h, lon0)]
    assert point_in_polygon(lat0 + fy * h, lon0 + fx * w, ring)
    assert not point_in_polygon(lat0 + h * 1.5, lon0 + fx * w, ring)
    assert not point_in_polygon(lat0 + fy * h, lon0 - w * 0.5, ring)


@given(
    entries=st.lists(st.tuples(countries, st.none() | subs), min_size=1, max_size=4),
    country=countries,
    sub=subs,
)
def test_more_information_never_flips_an_answer(
    entries: list[tuple[str, str | None]], country: str, sub: str
) -> None:
    territory = Territory(regions=frozenset(c if s is None else f"{c}-{s}" for c, s in entries))
    coarse = contains(territory, country=country)
    fine = contains(territory, country=country, region=f"{country}-{sub}")
    assert fine is not None  # a region is enough to decide a regions-only territory
    if coarse is not None:
        assert coarse == fine


@given(country=countries, sub=subs)
def test_a_country_contains_every_subdivision_of_its_own(country: str, sub: str) -> None:
    territory = Territory(regions=frozenset({country}))
    assert contains(territory, region=f"{country}-{sub}") is True
    others = {"CN", "US", "GB"} - {country}
    assert contains(Territory(regions=frozenset(others)), region=f"{country}-{sub}") is False
