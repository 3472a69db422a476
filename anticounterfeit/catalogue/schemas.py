"""Request and response bodies of the catalogue API (brands, products, batches).

Inputs forbid unknown fields and bound every string, so a wrong type, an unknown field or an
over-long value is a 400 problem naming the field before any service runs. Rules that need
more than the shape (GTIN check digit, URL scheme, lot characters, date order) are checked by
the services and answered 422.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, UnsetType

from anticounterfeit.catalogue.models import Batch, Brand, Product
from kernel.pagination import Page

__all__ = [
    "BatchCreate",
    "BatchOut",
    "BatchUpdate",
    "BrandCreate",
    "BrandOut",
    "BrandUpdate",
    "KeyRotationOut",
    "ProductCreate",
    "ProductOut",
    "ProductUpdate",
    "changes_of",
]

Slug = Annotated[
    str,
    Meta(
        min_length=2,
        max_length=64,
        pattern=r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$",
        description="lowercase letters, digits and inner hyphens",
    ),
]
BrandName = Annotated[str, Meta(min_length=1, max_length=200)]
DeviceThreshold = Annotated[int, Meta(ge=1, le=100_000)]
Gtin = Annotated[
    str, Meta(min_length=1, max_length=20, description="GTIN-8, -12, -13 or -14, digits only")
]
ProductName = Annotated[str, Meta(min_length=1, max_length=200)]
Description = Annotated[str, Meta(max_length=2000)]
ImageUrl = Annotated[str, Meta(max_length=500, description="absolute http(s) URL")]
PinLength = Annotated[int, Meta(ge=4, le=12, description="digits of the scratch-off PIN")]
Lot = Annotated[
    str, Meta(min_length=1, max_length=20, description="GS1 AI (10): CSET 82 characters")
]
Line = Annotated[str, Meta(max_length=100)]


class _Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


def changes_of(patch: msgspec.Struct) -> dict[str, Any]:
    """The fields a PATCH body actually sent (``UNSET`` ones dropped; ``null`` kept)."""
    return {
        name: value
        for name in patch.__struct_fields__
        if (value := getattr(patch, name)) is not UNSET
    }


# ---------------------------------------------------------------------------------------------
# Brands
# ---------------------------------------------------------------------------------------------
class BrandCreate(_Input):
    slug: Slug
    name: BrandName
    suspicious_distinct_devices: DeviceThreshold | None = None


class BrandUpdate(_Input):
    name: BrandName | UnsetType = UNSET
    suspicious_distinct_devices: DeviceThreshold | UnsetType | None = UNSET


class BrandOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    slug: str
    name: str
    suspicious_distinct_devices: int | None
    active_kid: int | None
    created_at: datetime

    @classmethod
    def of(cls, brand: Brand, active_kid: int | None) -> BrandOut:
        return cls(
            id=brand.id,
            slug=brand.slug,
            name=brand.name,
            suspicious_distinct_devices=brand.suspicious_distinct_devices,
            active_kid=active_kid,
            created_at=brand.created_at,
        )


class BrandPage(Page[BrandOut], kw_only=True):
    """One page of brand entries."""

    items: list[BrandOut]


class KeyRotationOut(msgspec.Struct, kw_only=True):
    brand_id: uuid.UUID
    retired_kid: int
    active_kid: int


# ---------------------------------------------------------------------------------------------
# Products
# ---------------------------------------------------------------------------------------------
class ProductCreate(_Input):
    gtin: Gtin
    name: ProductName
    description: Description | None = None
    image_url: ImageUrl | None = None
    pin_length: PinLength | None = None


class ProductUpdate(_Input):
    gtin: Gtin | UnsetType = UNSET  # accepted only if unchanged: GTINs are immutable
    name: ProductName | UnsetType = UNSET
    description: Description | UnsetType | None = UNSET
    image_url: ImageUrl | UnsetType | None = UNSET
    pin_length: PinLength | UnsetType | None = UNSET


class ProductOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    brand_id: uuid.UUID
    gtin: str
    name: str
    description: str | None
    image_url: str | None
    pin_length: int | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, product: Product) -> ProductOut:
        return cls(
            id=product.id,
            brand_id=product.brand_id,
            gtin=product.gtin,
            name=product.name,
            description=product.description,
            image_url=product.image_url,
            pin_length=product.pin_length,
            created_at=product.created_at,
            updated_at=product.updated_at,
        )


class ProductPage(Page[ProductOut], kw_only=True):
    """One page of product entries."""

    items: list[ProductOut]


# ---------------------------------------------------------------------------------------------
# Batches
# ---------------------------------------------------------------------------------------------
class BatchCreate(_Input):
    product_id: uuid.UUID
    lot: Lot
    production_date: date
    expiry_date: date | None = None
    line: Line | None = None


class BatchUpdate(_Input):
    lot: Lot | UnsetType = UNSET
    production_date: date | UnsetType = UNSET
    expiry_date: date | UnsetType | None = UNSET
    line: Line | UnsetType | None = UNSET


class BatchOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    brand_id: uuid.UUID
    product_id: uuid.UUID
    lot: str
    production_date: date
    expiry_date: date | None
    line: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, batch: Batch) -> BatchOut:
        return cls(
            id=batch.id,
            brand_id=batch.brand_id,
            product_id=batch.product_id,
            lot=batch.lot,
            production_date=batch.production_date,
            expiry_date=batch.expiry_date,
            line=batch.line,
            created_at=batch.created_at,
            updated_at=batch.updated_at,
        )


class BatchPage(Page[BatchOut], kw_only=True):
    """One page of batch entries."""

    items: list[BatchOut]
