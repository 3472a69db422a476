"""Request and response bodies of the channel-control API.

Inputs forbid unknown fields and bound every string and list, so a wrong shape is a 400
naming the field before any service runs; rules needing more than the shape (parent in the
same brand, no cycles, polygon geometry) are the services' and answered 422 / 409.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from channel_control.distributors.models import Distributor
from channel_control.distributors.territory import (
    CityArea,
    Geofence,
    Territory,
    make_circle,
    make_polygon,
    make_territory,
)
from kernel.pagination import Page

__all__ = [
    "CircleIn",
    "CityIn",
    "Contact",
    "DistributorCreate",
    "DistributorOut",
    "DistributorUpdate",
    "PolygonIn",
    "TerritoryIn",
    "contact_of",
    "to_territory",
]

RegionCode = Annotated[
    str,
    Meta(
        pattern=r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$",
        description="ISO 3166-1 alpha-2 (CN) or ISO 3166-2 (CN-GD)",
    ),
]
Lat = Annotated[float, Meta(ge=-90, le=90)]
Lon = Annotated[float, Meta(ge=-180, le=180)]
DistributorCode = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="the brand's own code for the distributor (unique per brand)",
    ),
]
Name = Annotated[str, Meta(min_length=1, max_length=200)]
Level = Literal["national", "regional", "retailer"]
Short = Annotated[str, Meta(max_length=200)]


class _Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class CircleIn(_Input, tag="circle", tag_field="type"):
    lat: Lat
    lon: Lon
    radius_m: Annotated[float, Meta(gt=0, le=2_000_000)]


class PolygonIn(_Input, tag="polygon", tag_field="type"):
    points: Annotated[
        list[Annotated[list[float], Meta(min_length=2, max_length=2)]],
        Meta(min_length=3, max_length=1000, description="[[lat, lon], ...], at least 3"),
    ]


class CityIn(_Input):
    region: RegionCode
    name: Annotated[str, Meta(min_length=1, max_length=100)]


class TerritoryIn(_Input):
    regions: Annotated[list[RegionCode], Meta(max_length=500)] = msgspec.field(default_factory=list)
    cities: Annotated[list[CityIn], Meta(max_length=500)] = msgspec.field(default_factory=list)
    geofences: Annotated[list[CircleIn | PolygonIn], Meta(max_length=100)] = msgspec.field(
        default_factory=list
    )


class Contact(_Input):
    person: Short | None = None
    phone: Annotated[str, Meta(max_length=50)] | None = None
    email: Annotated[str, Meta(max_length=200)] | None = None
    address: Annotated[str, Meta(max_length=500)] | None = None


class DistributorCreate(_Input):
    code: DistributorCode
    name: Name
    level: Level
    parent_id: uuid.UUID | None = None
    contact: Contact = msgspec.field(default_factory=Contact)
    territory: TerritoryIn = msgspec.field(default_factory=TerritoryIn)


class DistributorUpdate(_Input):
    """PATCH: only the fields sent change; ``parent_id: null`` detaches from the parent."""

    code: DistributorCode | UnsetType = UNSET
    name: Name | UnsetType = UNSET
    level: Level | UnsetType = UNSET
    parent_id: uuid.UUID | UnsetType | None = UNSET
    contact: Contact | UnsetType = UNSET
    territory: TerritoryIn | UnsetType = UNSET
    active: bool | UnsetType = UNSET


class DistributorOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    brand_id: uuid.UUID
    parent_id: uuid.UUID | None
    code: str
    name: str
    level: str
    contact: dict[str, Any]
    territory: dict[str, Any]
    active: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, d: Distributor) -> DistributorOut:
        return cls(
            id=d.id,
            brand_id=d.brand_id,
            parent_id=d.parent_id,
            code=d.code,
            name=d.name,
            level=d.level,
            contact=dict(d.contact or {}),
            territory=dict(d.territory or {}),
            active=d.deactivated_at is None,
            created_at=d.created_at,
            updated_at=d.updated_at,
        )


class DistributorPage(Page[DistributorOut], kw_only=True):
    """One page of distributor entries."""

    items: list[DistributorOut]


def to_territory(data: TerritoryIn) -> Territory:
    """The validated pure territory of a request body (422 naming the field at fault)."""
    fences: list[Geofence] = []
    for i, fence in enumerate(data.geofences):
        where = f"territory.geofences.{i}"
        if isinstance(fence, CircleIn):
            fences.append(make_circle(fence.lat, fence.lon, fence.radius_m, field_name=where))
        else:
            fences.append(make_polygon(fence.points, field_name=f"{where}.points"))
    return make_territory(
        data.regions, [CityArea(region=c.region, name=c.name) for c in data.cities], fences
    )


def contact_of(data: Contact) -> dict[str, Any]:
    """The stored contact document (unset entries dropped)."""
    return {k: v for k, v in msgspec.structs.asdict(data).items() if v is not None}
