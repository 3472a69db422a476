"""Catalogue reads: brands, products and batches by id, slug, GTIN or lot, pages of them,
and brands' code keys. Nothing here writes; the writes are ``catalogue.services`` (which
re-exports these names). Other packages that need catalogue facts read them here rather
than through ``catalogue.models``; the entity types these reads return (``Brand``,
``Product``, ``Batch``) are published here for type annotations.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from anticounterfeit.catalogue.models import Batch, Brand, BrandCodeKey, Product
from anticounterfeit.gs1.gtin import normalize_gtin
from kernel.errors import Conflict, NotFound
from kernel.pagination import fetch_page

__all__ = [
    "Batch",
    "BatchFilters",
    "Brand",
    "Product",
    "ProductFilters",
    "active_code_key",
    "active_kids",
    "brand_exists",
    "get_batch",
    "get_batch_by_lot",
    "get_brand",
    "get_brand_by_slug",
    "get_product",
    "get_product_by_gtin",
    "list_batches",
    "list_brands",
    "list_products",
    "owned_product_ids",
]


async def get_brand(session: AsyncSession, brand_id: uuid.UUID) -> Brand:
    """The brand ``brand_id``; ``NotFound`` otherwise (callers check visibility first)."""
    brand = await session.get(Brand, brand_id)
    if brand is None:
        raise NotFound("brand not found", code="brand_not_found")
    return brand


async def brand_exists(session: AsyncSession, brand_id: uuid.UUID) -> bool:
    """Whether brand ``brand_id`` exists (the kernel's tenancy check asks this)."""
    return await session.get(Brand, brand_id) is not None


async def owned_product_ids(
    session: AsyncSession, brand_id: uuid.UUID, ids: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    """Of ``ids``, the products of ``brand_id`` (``kernel.tenancy.OwnedIds``)."""
    rows = await session.execute(
        select(Product.id).where(Product.brand_id == brand_id, Product.id.in_(list(ids)))
    )
    return set(rows.scalars())


async def get_brand_by_slug(session: AsyncSession, slug: str) -> Brand:
    brand = (await session.execute(select(Brand).where(Brand.slug == slug))).scalar_one_or_none()
    if brand is None:
        raise NotFound(f"no brand with slug {slug!r}", code="brand_not_found", field="slug")
    return brand


async def list_brands(
    session: AsyncSession, *, only: uuid.UUID | None, limit: int, offset: int
) -> tuple[list[Brand], int]:
    """All brands (``only=None``, platform admins) or just the caller's own brand."""
    query = select(Brand).order_by(Brand.created_at, Brand.id)
    if only is not None:
        query = query.where(Brand.id == only)
    result: tuple[list[Brand], int] = await fetch_page(session, query, limit=limit, offset=offset)
    return result


async def active_kids(
    session: AsyncSession, brand_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """Active kid per brand (for display)."""
    ids = list(brand_ids)
    if not ids:
        return {}
    rows = await session.execute(
        select(BrandCodeKey.brand_id, BrandCodeKey.kid).where(
            BrandCodeKey.brand_id.in_(ids), BrandCodeKey.active.is_(True)
        )
    )
    return {brand_id: kid for brand_id, kid in rows}


async def active_code_key(
    session: AsyncSession, brand_id: uuid.UUID, *, for_update: bool = False
) -> BrandCodeKey:
    """The brand's active code key row. ``for_update`` locks it (issuing takes index ranges).

    Raises ``Conflict`` (``no_active_code_key``) if the brand has none (cannot happen for
    brands made through ``create_brand``).
    """
    query = select(BrandCodeKey).where(
        BrandCodeKey.brand_id == brand_id, BrandCodeKey.active.is_(True)
    )
    if for_update:
        query = query.with_for_update()
    key = (await session.execute(query)).scalar_one_or_none()
    if key is None:
        raise Conflict("the brand has no active code key", code="no_active_code_key")
    return key


@dataclass(frozen=True, slots=True)
class ProductFilters:
    q: str | None = None
    gtin: str | None = None


async def get_product(session: AsyncSession, brand_id: uuid.UUID, product_id: uuid.UUID) -> Product:
    """The brand's product ``product_id``; ``NotFound`` if absent or another brand's."""
    product = (
        await session.execute(
            select(Product).where(Product.id == product_id, Product.brand_id == brand_id)
        )
    ).scalar_one_or_none()
    if product is None:
        raise NotFound("product not found", code="product_not_found")
    return product


async def get_product_by_gtin(session: AsyncSession, brand_id: uuid.UUID, gtin14: str) -> Product:
    """The brand's product with GTIN-14 ``gtin14``; ``NotFound`` otherwise."""
    product = (
        await session.execute(
            select(Product).where(Product.gtin == gtin14, Product.brand_id == brand_id)
        )
    ).scalar_one_or_none()
    if product is None:
        raise NotFound(f"no product with GTIN {gtin14}", code="product_not_found", field="gtin")
    return product


async def list_products(
    session: AsyncSession,
    brand_id: uuid.UUID,
    filters: ProductFilters,
    *,
    limit: int,
    offset: int,
) -> tuple[list[Product], int]:
    query = select(Product).where(Product.brand_id == brand_id)
    if filters.q:
        query = query.where(func.lower(Product.name).contains(filters.q.lower(), autoescape=True))
    if filters.gtin:
        query = query.where(Product.gtin == normalize_gtin(filters.gtin))
    result: tuple[list[Product], int] = await fetch_page(
        session, query.order_by(Product.created_at, Product.id), limit=limit, offset=offset
    )
    return result


@dataclass(frozen=True, slots=True)
class BatchFilters:
    product_id: uuid.UUID | None = None
    lot: str | None = None
    produced_from: date | None = None
    produced_to: date | None = None


async def get_batch(session: AsyncSession, brand_id: uuid.UUID, batch_id: uuid.UUID) -> Batch:
    """The brand's batch ``batch_id``; ``NotFound`` if absent or another brand's."""
    batch = (
        await session.execute(select(Batch).where(Batch.id == batch_id, Batch.brand_id == brand_id))
    ).scalar_one_or_none()
    if batch is None:
        raise NotFound("batch not found", code="batch_not_found")
    return batch


async def get_batch_by_lot(
    session: AsyncSession, brand_id: uuid.UUID, product_id: uuid.UUID, lot: str
) -> Batch:
    """The brand's batch of ``product_id`` with lot ``lot``; ``NotFound`` otherwise."""
    batch = (
        await session.execute(
            select(Batch).where(
                Batch.brand_id == brand_id, Batch.product_id == product_id, Batch.lot == lot
            )
        )
    ).scalar_one_or_none()
    if batch is None:
        raise NotFound(f"no batch with lot {lot!r}", code="batch_not_found", field="lot")
    return batch


async def list_batches(
    session: AsyncSession,
    brand_id: uuid.UUID,
    filters: BatchFilters,
    *,
    limit: int,
    offset: int,
) -> tuple[list[Batch], int]:
    query = select(Batch).where(Batch.brand_id == brand_id)
    if filters.product_id is not None:
        query = query.where(Batch.product_id == filters.product_id)
    if filters.lot is not None:
        query = query.where(Batch.lot == filters.lot)
    if filters.produced_from is not None:
        query = query.where(Batch.production_date >= filters.produced_from)
    if filters.produced_to is not None:
        query = query.where(Batch.production_date <= filters.produced_to)
    result: tuple[list[Batch], int] = await fetch_page(
        session, query.order_by(Batch.created_at, Batch.id), limit=limit, offset=offset
    )
    return result
