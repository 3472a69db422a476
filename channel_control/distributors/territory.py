"""Territories: where a distributor is authorised to sell, and whether a place lies inside.

A territory is a *union* of areas:

- regions: ISO 3166-1 alpha-2 countries (``CN``) and ISO 3166-2 subdivisions (``CN-GD``);
  a country contains all of its subdivisions;
- cities: a city name qualified by the region it lies in (``{"region": "CN-ZJ", "name":
  "Hangzhou"}``), so that a city can be ruled out from the region alone;
- geofences: circles (centre and radius in metres) and polygons (``[[lat, lon], ...]``) for
  GPS positions.

``territory_contains`` answers with three values: ``True`` (inside), ``False`` (outside) and
``None`` (not enough information). An IP-located scan knows only country and region (and
perhaps a city), so it can never be judged against a geofence: a territory made only of
geofences says ``None`` for it. Each area answers on its own and the answers are joined with
Kleene's OR (any ``True`` wins; ``False`` only when every area says ``False``).

Everything here is pure: no I/O, no clock."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kernel.errors import InvalidInput
from kernel.geometry import haversine_m

__all__ = [
    "MAX_CIRCLE_RADIUS_M",
    "MAX_POLYGON_POINTS",
    "REGION_CODE_RE",
    "Circle",
    "CityArea",
    "Geofence",
    "Polygon",
    "Territory",
    "make_circle",
    "make_polygon",
    "make_territory",
    "point_in_polygon",
    "territory_contains",
    "territory_from_json",
    "territory_to_json",
    "validate_region_code",
]


REGION_CODE_RE = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")


MAX_CIRCLE_RADIUS_M = 2_000_000.0


MAX_POLYGON_POINTS = 1_000


@dataclass(frozen=True, slots=True)
class Circle:
    lat: float
    lon: float
    radius_m: float

    def contains(self, lat: float, lon: float) -> bool:
        return haversine_m(self.lat, self.lon, lat, lon) <= self.radius_m


@dataclass(frozen=True, slots=True)
class Polygon:
    points: tuple[tuple[float, float], ...]  # (lat, lon), not closed

    def contains(self, lat: float, lon: float) -> bool:
        return point_in_polygon(lat, lon, self.points)


Geofence = Circle | Polygon


@dataclass(frozen=True, slots=True)
class CityArea:
    region: str  # the country or subdivision the city lies in
    name: str


@dataclass(frozen=True, slots=True)
class Territory:
    regions: frozenset[str] = frozenset()
    cities: tuple[CityArea, ...] = ()
    geofences: tuple[Geofence, ...] = field(default=())

    @property
    def is_empty(self) -> bool:
        return not (self.regions or self.cities or self.geofences)


# ---------------------------------------------------------------------------------------------
# Validation (raises InvalidInput naming the field at fault)
# ---------------------------------------------------------------------------------------------
def validate_region_code(code: str, *, field_name: str = "territory.regions") -> str:
    """Return ``code`` if it has the shape of an ISO 3166-1 alpha-2 / 3166-2 code."""
    if not REGION_CODE_RE.match(code):
        raise InvalidInput(
            f"{code!r} is not an ISO 3166-1 alpha-2 or ISO 3166-2 code (e.g. CN, CN-GD)",
            code="invalid_region",
            field=field_name,
        )
    return code


def _check_coordinate(lat: float, lon: float, field_name: str) -> None:
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise InvalidInput("coordinates must be finite", code="invalid_geofence", field=field_name)
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise InvalidInput(
            "latitude must be in [-90, 90] and longitude in [-180, 180]",
            code="invalid_geofence",
            field=field_name,
        )


def make_circle(lat: float, lon: float, radius_m: float, *, field_name: str) -> Circle:
    """A validated circle."""
    _check_coordinate(lat, lon, field_name)
    if not (math.isfinite(radius_m) and 0.0 < radius_m <= MAX_CIRCLE_RADIUS_M):
        raise InvalidInput(
            f"radius_m must be in (0, {MAX_CIRCLE_RADIUS_M:.0f}]",
            code="invalid_geofence",
            field=f"{field_name}.radius_m",
        )
    return Circle(lat=lat, lon=lon, radius_m=radius_m)


def make_polygon(points: Sequence[Sequence[float]], *, field_name: str) -> Polygon:
    """A validated polygon: ≥ 3 distinct [lat, lon] points, not crossing the antimeridian.

    The ring is given open or closed (a repeated first point is dropped).
    """
    ring: list[tuple[float, float]] = []
    for i, point in enumerate(points):
        if len(point) != 2:
            raise InvalidInput(
                "a polygon point is [lat, lon]", code="invalid_geofence", field=f"{field_name}.{i}"
            )
        lat, lon = float(point[0]), float(point[1])
        _check_coordinate(lat, lon, f"{field_name}.{i}")
        ring.append((lat, lon))
    if len(ring) > 1 and ring[0] == ring[-1]:
        ring.pop()
    if len(set(ring)) < 3:
        raise InvalidInput(
            "a polygon needs at least 3 distinct points", code="invalid_geofence", field=field_name
        )
    if len(ring) > MAX_POLYGON_POINTS:
        raise InvalidInput(
            f"a polygon has at most {MAX_POLYGON_POINTS} points",
            code="invalid_geofence",
            field=field_name,
        )
    lons = [lon for _, lon in ring]
    if max(lons) - min(lons) > 180.0:
        # The planar ray test below would take the long way round the globe.
        raise InvalidInput(
            "polygons crossing the antimeridian are not supported: split them in two",
            code="invalid_geofence",
            field=field_name,
        )
    return Polygon(points=tuple(ring))


def make_territory(
    regions: Iterable[str],
    cities: Iterable[CityArea],
    geofences: Iterable[Geofence],
) -> Territory:
    """A validated territory (regions and city regions checked for shape)."""
    region_set = frozenset(validate_region_code(r) for r in regions)
    city_list = []
    for i, city in enumerate(cities):
        validate_region_code(city.region, field_name=f"territory.cities.{i}.region")
        name = city.name.strip()
        if not name:
            raise InvalidInput(
                "a city needs a name", code="invalid_city", field=f"territory.cities.{i}.name"
            )
        city_list.append(CityArea(region=city.region, name=name))
    return Territory(regions=region_set, cities=tuple(city_list), geofences=tuple(geofences))


def point_in_polygon(lat: float, lon: float, ring: Sequence[tuple[float, float]]) -> bool:
    """Even-odd ray test in the (lon, lat) plane; points on an edge count as inside.

    Planar on purpose: territories' polygons are city or district sized, where the error of
    treating degrees as a plane is far below GPS accuracy.
    """
    inside = False
    n = len(ring)
    for i in range(n):
        y1, x1 = ring[i]
        y2, x2 = ring[(i + 1) % n]
        if _on_segment(lon, lat, x1, y1, x2, y2):
            return True
        if (y1 > lat) != (y2 > lat):
            x_cross = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
            if lon < x_cross:
                inside = not inside
    return inside


def _on_segment(px: float, py: float, x1: float, y1: float, x2: float, y2: float) -> bool:
    cross = (x2 - x1) * (py - y1) - (y2 - y1) * (px - x1)
    if abs(cross) > 1e-12:
        return False
    return min(x1, x2) <= px <= max(x1, x2) and min(y1, y2) <= py <= max(y1, y2)


# ---------------------------------------------------------------------------------------------
# Containment (three-valued)
# ---------------------------------------------------------------------------------------------
def _any(values: Iterable[bool | None]) -> bool | None:
    """Kleene OR: True if any is True, False if all are False, else None."""
    result: bool | None = False
    for value in values:
        if value is True:
            return True
        if value is None:
            result = None
    return result


def _region_holds(entry: str, country: str | None, region: str | None) -> bool | None:
    """Does area ``entry`` (a country or a subdivision) hold the observed place?"""
    entry_country = entry[:2]
    if len(entry) == 2:  # a whole country
        return None if country is None else country == entry_country
    if region is not None:
        return region == entry
    if country is not None and country != entry_country:
        return False  # another country: none of this country's subdivisions
    return None


def territory_contains(
    territory: Territory,
    *,
    country: str | None,
    region: str | None,
    city: str | None,
    lat: float | None,
    lon: float | None,
) -> bool | None:
    """Is the observed place inside ``territory``? ``None`` = not enough information.

    ``region`` is an ISO 3166-2 code (``CN-GD``) and implies its country; a GPS fix gives
    ``lat``/``lon``. An empty territory contains nothing.
    """
    if region is not None and len(region) >= 2:
        country = region[:2]  # the subdivision's own country wins over a stray country field

    def regions() -> Iterable[bool | None]:
        for entry in territory.regions:
            yield _region_holds(entry, country, region)

    def cities() -> Iterable[bool | None]:
        for area in territory.cities:
            in_region = _region_holds(area.region, country, region)
            if in_region is False:
                yield False
            elif city is None:
                yield None
            elif city.strip().casefold() != area.name.casefold():
                yield False
            else:
                yield in_region  # True, or None when the region could not be checked

    def fences() -> Iterable[bool | None]:
        for fence in territory.geofences:
            yield None if lat is None or lon is None else fence.contains(lat, lon)

    return _any((*regions(), *cities(), *fences()))


# ---------------------------------------------------------------------------------------------
# Storage form (the JSON document on the distributor row)
# ---------------------------------------------------------------------------------------------
def territory_to_json(territory: Territory) -> dict[str, Any]:
    """The stored / API form: ``{"regions": [...], "cities": [...], "geofences": [...]}``."""
    fences: list[dict[str, Any]] = []
    for fence in territory.geofences:
        if isinstance(fence, Circle):
            fences.append(
                {"type": "circle", "lat": fence.lat, "lon": fence.lon, "radius_m": fence.radius_m}
            )
        else:
            fences.append({"type": "polygon", "points": [[la, lo] for la, lo in fence.points]})
    return {
        "regions": sorted(territory.regions),
        "cities": [{"region": c.region, "name": c.name} for c in territory.cities],
        "geofences": fences,
    }


def territory_from_json(doc: dict[str, Any]) -> Territory:
    """Inverse of ``territory_to_json`` (trusts the stored document: it was validated)."""
    fences: list[Geofence] = []
    for fence in doc.get("geofences", []):
        if fence["type"] == "circle":
            fences.append(Circle(lat=fence["lat"], lon=fence["lon"], radius_m=fence["radius_m"]))
        else:
            fences.append(Polygon(points=tuple((p[0], p[1]) for p in fence["points"])))
    return Territory(
        regions=frozenset(doc.get("regions", [])),
        cities=tuple(CityArea(region=c["region"], name=c["name"]) for c in doc.get("cities", [])),
        geofences=tuple(fences),
    )
