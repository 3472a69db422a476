"""Catalogue admin API: brands (tenants, code keys), products and batches.

Also home of the *acting brand* rule every brand-scoped route shares
(``provide_acting_brand``, ``provide_brand_scope``): a brand user acts for its own brand; a
platform admin names the brand in the ``X-Scanguard-Brand`` header."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from litestar import Controller, delete, get, patch, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from anticounterfeit.catalogue import services as catalogue
from anticounterfeit.catalogue.schemas import (
    BatchCreate,
    BatchOut,
    BatchPage,
    BatchUpdate,
    BrandCreate,
    BrandOut,
    BrandPage,
    BrandUpdate,
    KeyRotationOut,
    ProductCreate,
    ProductOut,
    ProductPage,
    ProductUpdate,
    changes_of,
)
from anticounterfeit.codes.metadata import CodeMetadataService
from kernel.auth import Principal
from kernel.errors import NotFound
from kernel.guards import BRAND_READ, BRAND_WRITE, PLATFORM_ONLY
from kernel.pagination import Limit, Offset
from kernel.settings import provide_settings
from kernel.tenancy import SECURITY, ActingBrand, Caller, Db, scoped_dependencies
from kernel.uow import after_commit

__all__ = ["ROUTES", "BatchController", "BrandController", "ProductController"]


def metadata_of(state: State) -> CodeMetadataService:
    """The scan path's metadata cache, to invalidate after a committed change."""
    service: CodeMetadataService = state.metadata
    return service


# ---------------------------------------------------------------------------------------------
# Brands
# ---------------------------------------------------------------------------------------------
def _visible(principal: Principal, brand_id: uuid.UUID) -> uuid.UUID:
    if not principal.is_platform_admin and principal.brand_id != brand_id:
        raise NotFound("brand not found", code="brand_not_found")
    return brand_id


class BrandController(Controller):
    path = "/v1/admin/brands"
    tags = ("catalogue",)
    security = SECURITY
    dependencies = scoped_dependencies()

    @post("/", status_code=201, guards=[PLATFORM_ONLY])
    async def create_brand(
        self,
        data: JSONBody[BrandCreate],
        principal: Caller,
        db: Db,
        state: State,
    ) -> BrandOut:
        """Create a brand (platform admin) and assign it the smallest free code key id."""
        brand, kid = await catalogue.create_brand(
            db,
            principal,
            slug=data.slug,
            name=data.name,
            suspicious_distinct_devices=data.suspicious_distinct_devices,
            keyring=provide_settings(state).auth.code_keyring.keys(),
        )
        return BrandOut.of(brand, kid)

    @get("/")
    async def list_brands(
        self,
        principal: Caller,
        db: Db,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> BrandPage:
        """List brands: all of them for platform admins, only their own for brand users."""
        only = None if principal.is_platform_admin else principal.brand_id
        brands, total = await catalogue.list_brands(db, only=only, limit=limit, offset=offset)
        kids = await catalogue.active_kids(db, (b.id for b in brands))
        return BrandPage(
            items=[BrandOut.of(b, kids.get(b.id)) for b in brands],
            total=total,
            limit=limit,
            offset=offset,
        )

    @get("/{brand_id:uuid}")
    async def get_brand(
        self,
        brand_id: FromPath[uuid.UUID],
        principal: Caller,
        db: Db,
    ) -> BrandOut:
        """One brand (brand users: only their own; any other id is 404)."""
        brand = await catalogue.get_brand(db, _visible(principal, brand_id))
        kids = await catalogue.active_kids(db, [brand.id])
        return BrandOut.of(brand, kids.get(brand.id))

    @patch("/{brand_id:uuid}", guards=[PLATFORM_ONLY])
    async def update_brand(
        self,
        brand_id: FromPath[uuid.UUID],
        data: JSONBody[BrandUpdate],
        principal: Caller,
        db: Db,
        state: State,
    ) -> BrandOut:
        """Rename a brand or change its clone threshold (platform admin)."""
        brand = await catalogue.update_brand(db, principal, brand_id, changes_of(data))
        kids = await catalogue.active_kids(db, [brand.id])
        after_commit(db, lambda: metadata_of(state).invalidate_for(brand_id=brand.id))
        return BrandOut.of(brand, kids.get(brand.id))

    @post("/{brand_id:uuid}/rotate-key", status_code=200, guards=[PLATFORM_ONLY])
    async def rotate_brand_key(
        self,
        brand_id: FromPath[uuid.UUID],
        principal: Caller,
        db: Db,
        state: State,
    ) -> KeyRotationOut:
        """Retire the brand's active code key and assign a fresh one (platform admin).

        Codes already printed under the retired key id keep verifying; new rolls use the new
        one.
        """
        old, new = await catalogue.rotate_code_key(
            db, principal, brand_id, provide_settings(state).auth.code_keyring.keys()
        )
        return KeyRotationOut(brand_id=brand_id, retired_kid=old, active_kid=new)


# ---------------------------------------------------------------------------------------------
# Products
# ---------------------------------------------------------------------------------------------
class ProductController(Controller):
    path = "/v1/admin/products"
    tags = ("catalogue",)
    security = SECURITY
    dependencies = scoped_dependencies()

    @post("/", status_code=201, guards=[BRAND_WRITE])
    async def create_product(
        self,
        data: JSONBody[ProductCreate],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
    ) -> ProductOut:
        """Register a product. The GTIN (8/12/13/14 digits) is stored as GTIN-14, unique."""
        product = await catalogue.create_product(
            db,
            principal,
            acting_brand,
            gtin=data.gtin,
            name=data.name,
            description=data.description,
            image_url=data.image_url,
            pin_length=data.pin_length,
        )
        return ProductOut.of(product)

    @get("/", guards=[BRAND_READ])
    async def list_products(
        self,
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        q: Annotated[
            str | None, QueryParameter(max_length=200, description="name contains")
        ] = None,
        gtin: Annotated[str | None, QueryParameter(max_length=20, description="exact GTIN")] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> ProductPage:
        """List the brand's products, oldest first; filter by name text or GTIN."""
        rows, total = await catalogue.list_products(
            db,
            acting_brand,
            catalogue.ProductFilters(q=q, gtin=gtin),
            limit=limit,
            offset=offset,
        )
        return ProductPage(
            items=[ProductOut.of(p) for p in rows], total=total, limit=limit, offset=offset
        )

    @get("/{product_id:uuid}", guards=[BRAND_READ])
    async def get_product(
        self,
        product_id: FromPath[uuid.UUID],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
    ) -> ProductOut:
        """One of the brand's products."""
        return ProductOut.of(await catalogue.get_product(db, acting_brand, product_id))

    @patch("/{product_id:uuid}", guards=[BRAND_WRITE])
    async def update_product(
        self,
        product_id: FromPath[uuid.UUID],
        data: JSONBody[ProductUpdate],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        state: State,
    ) -> ProductOut:
        """Change a product's name, description, image or PIN length. The GTIN is immutable."""
        product = await catalogue.update_product(
            db, principal, acting_brand, product_id, changes_of(data)
        )
        after_commit(db, lambda: metadata_of(state).invalidate_for(product_id=product.id))
        return ProductOut.of(product)

    @delete("/{product_id:uuid}", guards=[BRAND_WRITE])
    async def delete_product(
        self,
        product_id: FromPath[uuid.UUID],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
    ) -> None:
        """Delete a product that no batch or code roll references (409 ``product_in_use``)."""
        await catalogue.delete_product(db, principal, acting_brand, product_id)


# ---------------------------------------------------------------------------------------------
# Batches
# ---------------------------------------------------------------------------------------------
class BatchController(Controller):
    path = "/v1/admin/batches"
    tags = ("catalogue",)
    security = SECURITY
    dependencies = scoped_dependencies()

    @post("/", status_code=201, guards=[BRAND_WRITE])
    async def create_batch(
        self,
        data: JSONBody[BatchCreate],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
    ) -> BatchOut:
        """Register a production batch (lot, GS1 AI 10) of one of the brand's products."""
        batch = await catalogue.create_batch(
            db,
            principal,
            acting_brand,
            product_id=data.product_id,
            lot=data.lot,
            production_date=data.production_date,
            expiry_date=data.expiry_date,
            line=data.line,
        )
        return BatchOut.of(batch)

    @get("/", guards=[BRAND_READ])
    async def list_batches(
        self,
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        product_id: FromQuery[uuid.UUID | None] = None,
        lot: Annotated[str | None, QueryParameter(max_length=20)] = None,
        produced_from: FromQuery[date | None] = None,
        produced_to: FromQuery[date | None] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> BatchPage:
        """List the brand's batches, oldest first; filter by product, lot, production dates."""
        rows, total = await catalogue.list_batches(
            db,
            acting_brand,
            catalogue.BatchFilters(
                product_id=product_id,
                lot=lot,
                produced_from=produced_from,
                produced_to=produced_to,
            ),
            limit=limit,
            offset=offset,
        )
        return BatchPage(
            items=[BatchOut.of(b) for b in rows], total=total, limit=limit, offset=offset
        )

    @get("/{batch_id:uuid}", guards=[BRAND_READ])
    async def get_batch(
        self,
        batch_id: FromPath[uuid.UUID],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
    ) -> BatchOut:
        """One of the brand's batches."""
        return BatchOut.of(await catalogue.get_batch(db, acting_brand, batch_id))

    @patch("/{batch_id:uuid}", guards=[BRAND_WRITE])
    async def update_batch(
        self,
        batch_id: FromPath[uuid.UUID],
        data: JSONBody[BatchUpdate],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        state: State,
    ) -> BatchOut:
        """Change a batch's lot, dates or line (expiry may not precede production)."""
        batch = await catalogue.update_batch(
            db, principal, acting_brand, batch_id, changes_of(data)
        )
        after_commit(db, lambda: metadata_of(state).invalidate_for(batch_id=batch.id))
        return BatchOut.of(batch)

    @delete("/{batch_id:uuid}", guards=[BRAND_WRITE])
    async def delete_batch(
        self,
        batch_id: FromPath[uuid.UUID],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
    ) -> None:
        """Delete a batch no codes are bound to (409 ``batch_in_use``)."""
        await catalogue.delete_batch(db, principal, acting_brand, batch_id)


ROUTES: list[Any] = [BrandController, ProductController, BatchController]
