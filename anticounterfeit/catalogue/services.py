"""Catalogue services: brands (tenants) and their code keys, products (GTIN) and batches.

Every brand-scoped function takes the acting ``brand_id`` and filters by it, so an object of
another brand is simply "not found" (never "forbidden": that would confirm it exists).
Functions flush, never commit: the request or job boundary owns the transaction.
The reads (by id, slug, GTIN, lot; lists; code keys) are ``catalogue.queries``; their names
are re-exported here so existing callers keep working.

Code keys: a brand owns one *active* key id (kid) at a time; the secrets live only in
configuration (``settings.auth.code_keyring``). Retired kids stay owned by their brand so codes
already printed under them keep verifying.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from anticounterfeit.catalogue.models import Batch, Brand, BrandCodeKey, Product
from anticounterfeit.catalogue.queries import (
    BatchFilters,
    ProductFilters,
    active_code_key,
    active_kids,
    brand_exists,
    get_batch,
    get_batch_by_lot,
    get_brand,
    get_brand_by_slug,
    get_product,
    get_product_by_gtin,
    list_batches,
    list_brands,
    list_products,
)
from anticounterfeit.codes.models import CodeRangeEvent, CodeRoll
from anticounterfeit.gs1.digital_link import is_cset82
from anticounterfeit.gs1.gtin import normalize_gtin
from kernel.audit import record_audit
from kernel.auth import Principal
from kernel.db import utcnow
from kernel.errors import Conflict, InvalidInput, NotFound

__all__ = [
    "BatchFilters",
    "ProductFilters",
    "active_code_key",
    "active_kids",
    "brand_exists",
    "create_batch",
    "create_brand",
    "create_product",
    "delete_batch",
    "delete_product",
    "get_batch",
    "get_batch_by_lot",
    "get_brand",
    "get_brand_by_slug",
    "get_product",
    "get_product_by_gtin",
    "list_batches",
    "list_brands",
    "list_products",
    "rotate_code_key",
    "update_batch",
    "update_brand",
    "update_product",
]

NO_FREE_KEY_HINT = (
    "every configured code key is already assigned to a brand; add keys to "
    "SCANGUARD_CODE_KEYS (kid:base64secret, kid 1..4095, secret >= 32 bytes) and restart"
)


# ---------------------------------------------------------------------------------------------
# Brands and code keys
# ---------------------------------------------------------------------------------------------


async def _claim_free_kid(
    session: AsyncSession, brand_id: uuid.UUID, keyring: Iterable[int]
) -> int:
    """Insert an active key row for the smallest configured kid nobody owns; return the kid.

    ``INSERT ... ON CONFLICT DO NOTHING`` makes two concurrent claims of the same kid safe:
    the loser sees no row inserted and tries the next candidate.
    """
    taken = set((await session.execute(select(BrandCodeKey.kid))).scalars().all())
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    for kid in sorted(set(keyring) - taken):
        statement = (
            insert(BrandCodeKey)
            .values(
                kid=kid,
                brand_id=brand_id,
                active=True,
                next_index=0,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["kid"])
        )
        result = await session.execute(statement)
        if getattr(result, "rowcount", 0) == 1:
            return kid
    raise Conflict(NO_FREE_KEY_HINT, code="no_free_code_key")


async def create_brand(
    session: AsyncSession,
    actor: Principal | None,
    *,
    slug: str,
    name: str,
    suspicious_distinct_devices: int | None,
    keyring: Iterable[int],
) -> tuple[Brand, int]:
    """Create a brand and assign it the smallest free code key id; return (brand, kid)."""
    existing = await session.execute(select(Brand.id).where(Brand.slug == slug))
    if existing.first() is not None:
        raise Conflict(f"slug {slug!r} is taken", code="slug_taken", field="slug")
    brand = Brand(
        id=uuid.uuid4(),
        slug=slug,
        name=name,
        suspicious_distinct_devices=suspicious_distinct_devices,
        created_at=utcnow(),
    )
    session.add(brand)
    await _flush(session, Conflict(f"slug {slug!r} is taken", code="slug_taken", field="slug"))
    kid = await _claim_free_kid(session, brand.id, keyring)
    record_audit(
        session,
        actor,
        "brand.create",
        target_type="brand",
        target_id=brand.id,
        brand_id=brand.id,
        details={"slug": slug, "name": name, "kid": kid},
    )
    return brand, kid


async def update_brand(
    session: AsyncSession, actor: Principal | None, brand_id: uuid.UUID, changes: Mapping[str, Any]
) -> Brand:
    """Change a brand's name or clone threshold (``changes`` holds only fields sent)."""
    brand = await get_brand(session, brand_id)
    allowed = {"name", "suspicious_distinct_devices"}
    applied = {k: v for k, v in changes.items() if k in allowed}
    for key, value in applied.items():
        setattr(brand, key, value)
    await session.flush()
    record_audit(
        session,
        actor,
        "brand.update",
        target_type="brand",
        target_id=brand.id,
        brand_id=brand.id,
        details=applied,
    )
    return brand


async def rotate_code_key(
    session: AsyncSession, actor: Principal | None, brand_id: uuid.UUID, keyring: Iterable[int]
) -> tuple[int, int]:
    """Retire the brand's active kid and assign a fresh one; return (old kid, new kid).

    The retired kid stays owned by the brand, so codes printed under it keep verifying.
    """
    await get_brand(session, brand_id)
    current = await active_code_key(session, brand_id, for_update=True)
    old_kid = current.kid
    # Check first so a full keyring leaves the current key active.
    taken = set((await session.execute(select(BrandCodeKey.kid))).scalars().all())
    if not set(keyring) - taken:
        raise Conflict(NO_FREE_KEY_HINT, code="no_free_code_key")
    current.active = False
    current.retired_at = utcnow()
    await session.flush()  # the partial unique index allows one active key per brand
    new_kid = await _claim_free_kid(session, brand_id, keyring)
    record_audit(
        session,
        actor,
        "brand.rotate_key",
        target_type="brand",
        target_id=brand_id,
        brand_id=brand_id,
        details={"old_kid": old_kid, "new_kid": new_kid},
    )
    return old_kid, new_kid


# ---------------------------------------------------------------------------------------------
# Products
# ---------------------------------------------------------------------------------------------


def _check_image_url(url: str | None) -> None:
    if url is None:
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput(
            "image_url must be an absolute http or https URL",
            code="invalid_url",
            field="image_url",
        )


def _gtin_taken(gtin14: str) -> Conflict:
    return Conflict(f"GTIN {gtin14} is already registered", code="gtin_taken", field="gtin")


async def create_product(
    session: AsyncSession,
    actor: Principal | None,
    brand_id: uuid.UUID,
    *,
    gtin: str,
    name: str,
    description: str | None = None,
    image_url: str | None = None,
    pin_length: int | None = None,
) -> Product:
    """Register a product; its GTIN (normalised to 14 digits) is unique platform-wide."""
    gtin14 = normalize_gtin(gtin)
    _check_image_url(image_url)
    taken = await session.execute(select(Product.id).where(Product.gtin == gtin14))
    if taken.first() is not None:
        raise _gtin_taken(gtin14)
    now = utcnow()
    product = Product(
        id=uuid.uuid4(),
        brand_id=brand_id,
        gtin=gtin14,
        name=name,
        description=description,
        image_url=image_url,
        pin_length=pin_length,
        created_at=now,
        updated_at=now,
    )
    session.add(product)
    await _flush(session, _gtin_taken(gtin14))  # a concurrent insert of the same GTIN
    record_audit(
        session,
        actor,
        "product.create",
        target_type="product",
        target_id=product.id,
        brand_id=brand_id,
        details={"gtin": gtin14, "name": name},
    )
    return product


async def update_product(
    session: AsyncSession,
    actor: Principal | None,
    brand_id: uuid.UUID,
    product_id: uuid.UUID,
    changes: Mapping[str, Any],
) -> Product:
    """Change a product's descriptive fields. The GTIN is immutable (codes embed it)."""
    product = await get_product(session, brand_id, product_id)
    if "gtin" in changes and normalize_gtin(str(changes["gtin"])) != product.gtin:
        raise InvalidInput(
            "a product's GTIN cannot change (printed codes embed it); create a new product",
            code="gtin_immutable",
            field="gtin",
        )
    allowed = {"name", "description", "image_url", "pin_length"}
    applied = {k: v for k, v in changes.items() if k in allowed}
    if "image_url" in applied:
        _check_image_url(applied["image_url"])
    for key, value in applied.items():
        setattr(product, key, value)
    product.updated_at = utcnow()
    await session.flush()
    record_audit(
        session,
        actor,
        "product.update",
        target_type="product",
        target_id=product.id,
        brand_id=brand_id,
        details=applied,
    )
    return product


async def delete_product(
    session: AsyncSession, actor: Principal | None, brand_id: uuid.UUID, product_id: uuid.UUID
) -> None:
    """Delete a product no batch or code roll references (``product_in_use`` otherwise)."""
    product = await get_product(session, brand_id, product_id)
    in_use = Conflict(
        "the product has batches or code rolls; it cannot be deleted", code="product_in_use"
    )
    for model in (Batch, CodeRoll):
        hit = await session.execute(select(model.id).where(model.product_id == product.id).limit(1))
        if hit.first() is not None:
            raise in_use
    await session.delete(product)
    await _flush(session, in_use)  # a roll or batch created meanwhile (foreign key)
    record_audit(
        session,
        actor,
        "product.delete",
        target_type="product",
        target_id=product_id,
        brand_id=brand_id,
        details={"gtin": product.gtin},
    )


# ---------------------------------------------------------------------------------------------
# Batches
# ---------------------------------------------------------------------------------------------


def _check_lot(lot: str) -> None:
    if not lot or not is_cset82(lot):
        raise InvalidInput(
            "lot must be 1-20 characters of GS1 CSET 82 (letters, digits, !\"%&'()*+,-./:;<=>?_)",
            code="invalid_lot",
            field="lot",
        )


def _check_dates(production: date, expiry: date | None) -> None:
    if expiry is not None and expiry < production:
        raise InvalidInput(
            f"expiry_date {expiry.isoformat()} is before production_date {production.isoformat()}",
            code="expiry_before_production",
            field="expiry_date",
        )


def _lot_taken(lot: str) -> Conflict:
    return Conflict(f"lot {lot!r} already exists for this product", code="lot_taken", field="lot")


async def create_batch(
    session: AsyncSession,
    actor: Principal | None,
    brand_id: uuid.UUID,
    *,
    product_id: uuid.UUID,
    lot: str,
    production_date: date,
    expiry_date: date | None = None,
    line: str | None = None,
) -> Batch:
    """Register a production batch (lot) of one of the brand's products."""
    _check_lot(lot)
    _check_dates(production_date, expiry_date)
    try:
        product = await get_product(session, brand_id, product_id)
    except NotFound as exc:
        raise NotFound("product not found", code="product_not_found", field="product_id") from exc
    exists = await session.execute(
        select(Batch.id).where(
            Batch.brand_id == brand_id, Batch.product_id == product.id, Batch.lot == lot
        )
    )
    if exists.first() is not None:
        raise _lot_taken(lot)
    now = utcnow()
    batch = Batch(
        id=uuid.uuid4(),
        brand_id=brand_id,
        product_id=product.id,
        lot=lot,
        production_date=production_date,
        expiry_date=expiry_date,
        line=line,
        created_at=now,
        updated_at=now,
    )
    session.add(batch)
    await _flush(session, _lot_taken(lot))
    record_audit(
        session,
        actor,
        "batch.create",
        target_type="batch",
        target_id=batch.id,
        brand_id=brand_id,
        details={"product_id": str(product.id), "lot": lot},
    )
    return batch


async def update_batch(
    session: AsyncSession,
    actor: Principal | None,
    brand_id: uuid.UUID,
    batch_id: uuid.UUID,
    changes: Mapping[str, Any],
) -> Batch:
    """Change a batch's lot, dates or line; the product stays fixed."""
    batch = await get_batch(session, brand_id, batch_id)
    allowed = {"lot", "production_date", "expiry_date", "line"}
    applied = {k: v for k, v in changes.items() if k in allowed}
    if "production_date" in applied and applied["production_date"] is None:
        raise InvalidInput(
            "production_date cannot be cleared", code="invalid_input", field="production_date"
        )
    lot = applied.get("lot", batch.lot)
    _check_lot(lot)
    _check_dates(
        applied.get("production_date", batch.production_date),
        applied.get("expiry_date", batch.expiry_date),
    )
    if lot != batch.lot:
        clash = await session.execute(
            select(Batch.id).where(
                Batch.brand_id == brand_id,
                Batch.product_id == batch.product_id,
                Batch.lot == lot,
            )
        )
        if clash.first() is not None:
            raise _lot_taken(lot)
    for key, value in applied.items():
        setattr(batch, key, value)
    batch.updated_at = utcnow()
    await _flush(session, _lot_taken(lot))
    record_audit(
        session,
        actor,
        "batch.update",
        target_type="batch",
        target_id=batch.id,
        brand_id=brand_id,
        details={k: (v.isoformat() if isinstance(v, date) else v) for k, v in applied.items()},
    )
    return batch


async def delete_batch(
    session: AsyncSession, actor: Principal | None, brand_id: uuid.UUID, batch_id: uuid.UUID
) -> None:
    """Delete a batch no code roll or range event references (``batch_in_use`` otherwise)."""
    batch = await get_batch(session, brand_id, batch_id)
    in_use = Conflict("codes are bound to this batch; it cannot be deleted", code="batch_in_use")
    for model in (CodeRoll, CodeRangeEvent):
        hit = await session.execute(select(model.id).where(model.batch_id == batch.id).limit(1))
        if hit.first() is not None:
            raise in_use
    await session.delete(batch)
    await _flush(session, in_use)
    record_audit(
        session,
        actor,
        "batch.delete",
        target_type="batch",
        target_id=batch_id,
        brand_id=brand_id,
        details={"lot": batch.lot, "product_id": str(batch.product_id)},
    )


async def _flush(session: AsyncSession, on_conflict: Conflict) -> None:
    """Flush; a unique or foreign-key violation (a concurrent writer) becomes ``on_conflict``.

    The session is unusable afterwards, which is fine: the request fails and rolls back.
    """
    try:
        await session.flush()
    except IntegrityError as exc:
        raise on_conflict from exc
