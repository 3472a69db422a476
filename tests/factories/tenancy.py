"""Factories for tenants, users, products and batches (shared by every domain's tests).

They write through the real services with the app's own session factory (the app runs in
the test's event loop), committing each object so HTTP requests see it.
"""

from __future__ import annotations

import random
import uuid
from datetime import date
from typing import Any

import httpx
from litestar import Litestar

from anticounterfeit.catalogue import services as catalogue
from anticounterfeit.catalogue.models import Batch, Brand, Product
from anticounterfeit.gs1.gtin import gtin_check_digit
from kernel import accounts
from kernel.accounts import User
from kernel.auth import Role
from kernel.uow import session_scope

__all__ = [
    "DEFAULT_PASSWORD",
    "brand_admin",
    "brand_viewer",
    "login",
    "make_batch",
    "make_brand",
    "make_product",
    "make_user",
    "platform_admin",
    "random_gtin14",
]

DEFAULT_PASSWORD = "correct horse battery"


def _suffix() -> str:
    return uuid.uuid4().hex[:10]


def random_gtin14() -> str:
    """A fresh, valid GTIN-14 (random body, right check digit)."""
    body = "0" + "".join(random.choice("0123456789") for _ in range(12))
    return body + str(gtin_check_digit(body))


async def make_brand(app: Litestar, slug: str | None = None, name: str | None = None) -> Brand:
    """A committed brand with its code key assigned."""
    slug = slug or f"brand-{_suffix()}"
    async with session_scope(app.state.session_factory) as session:
        brand, _kid = await catalogue.create_brand(
            session,
            None,
            slug=slug,
            name=name or f"Brand {slug}",
            suspicious_distinct_devices=None,
            keyring=app.state.settings.auth.code_keyring.keys(),
        )
    return brand


async def make_user(
    app: Litestar,
    *,
    role: str,
    brand: Brand | None = None,
    username: str | None = None,
    password: str = DEFAULT_PASSWORD,
) -> User:
    """A committed user (``brand`` is required for brand roles)."""
    async with session_scope(app.state.session_factory) as session:
        return await accounts.create_user(
            session,
            None,
            username=username or f"{role.replace('_', '-')}-{_suffix()}",
            password=password,
            role=role,
            brand_id=brand.id if brand is not None else None,
        )


async def login(client: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    """Log in through the API; return the ``Authorization`` header."""
    response = await client.post(
        "/v1/admin/auth/login", json={"username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _brand_user(
    app: Litestar, client: httpx.AsyncClient, role: Role, brand: Brand | None
) -> tuple[Brand, dict[str, str]]:
    brand = brand or await make_brand(app)
    user = await make_user(app, role=role, brand=brand)
    return brand, await login(client, user.username, DEFAULT_PASSWORD)


async def brand_admin(
    app: Litestar, client: httpx.AsyncClient, brand: Brand | None = None
) -> tuple[Brand, dict[str, str]]:
    """A brand (new unless given) and a logged-in brand admin's headers."""
    return await _brand_user(app, client, Role.BRAND_ADMIN, brand)


async def brand_viewer(
    app: Litestar, client: httpx.AsyncClient, brand: Brand | None = None
) -> tuple[Brand, dict[str, str]]:
    """A brand (new unless given) and a logged-in brand viewer's headers."""
    return await _brand_user(app, client, Role.BRAND_VIEWER, brand)


async def platform_admin(app: Litestar, client: httpx.AsyncClient) -> dict[str, str]:
    """A logged-in platform admin's headers (add ``X-Scanguard-Brand`` to act on a brand)."""
    user = await make_user(app, role=Role.PLATFORM_ADMIN)
    return await login(client, user.username, DEFAULT_PASSWORD)


async def make_product(
    app: Litestar,
    brand: Brand,
    *,
    gtin: str | None = None,
    name: str | None = None,
    pin_length: int | None = None,
    **fields: Any,
) -> Product:
    """A committed product of ``brand`` (random valid GTIN-14 unless given)."""
    async with session_scope(app.state.session_factory) as session:
        return await catalogue.create_product(
            session,
            None,
            brand.id,
            gtin=gtin or random_gtin14(),
            name=name or f"Product {_suffix()}",
            pin_length=pin_length,
            **fields,
        )


async def make_batch(
    app: Litestar,
    brand: Brand,
    product: Product,
    *,
    lot: str | None = None,
    production_date: date | None = None,
    **fields: Any,
) -> Batch:
    """A committed batch of ``product``."""
    async with session_scope(app.state.session_factory) as session:
        return await catalogue.create_batch(
            session,
            None,
            brand.id,
            product_id=product.id,
            lot=lot or f"L{_suffix()[:8].upper()}",
            production_date=production_date or date(2025, 1, 15),
            **fields,
        )
