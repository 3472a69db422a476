"""Factories for code rolls (through the rolls service) and helpers to build codes and scan URLs.

``setup_brand`` / ``add_product`` / ``add_batch`` are minimal stand-ins used by the roll tests
until ``tests.factories.tenancy`` is available everywhere; they insert rows directly and mint
admin tokens with the app's JWT secret.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date

from litestar import Litestar
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from anticounterfeit.catalogue.models import Batch, Brand, BrandCodeKey, Product
from anticounterfeit.codes import services as rolls
from anticounterfeit.codes.format import Keyring, encode_code
from anticounterfeit.codes.models import CodeRoll
from anticounterfeit.gs1.gtin import gtin_check_digit
from kernel.auth import Role, TokenPurpose, encode_token
from kernel.settings import Settings
from tests.factories.tenancy import make_user

__all__ = [
    "BrandSetup",
    "add_batch",
    "add_product",
    "codes_of",
    "make_roll",
    "random_gtin14",
    "scan_path",
    "setup_brand",
    "token_headers",
]


def _factory(app: Litestar) -> async_sessionmaker[AsyncSession]:
    factory: async_sessionmaker[AsyncSession] = app.state.session_factory
    return factory


async def make_roll(
    app: Litestar,
    brand: Brand,
    product: Product,
    *,
    count: int = 100,
    activate: bool = True,
    batch: Batch | None = None,
    note: str | None = None,
) -> CodeRoll:
    """Issue a roll through the rolls service and commit it."""
    keyring: Keyring = app.state.keyring
    async with _factory(app)() as session:
        result = await rolls.issue_roll_and_commit(
            session,
            keyring,
            None,
            brand.id,
            rolls.IssueRequest(
                count=count,
                product_id=product.id,
                batch_id=batch.id if batch else None,
                activate=activate,
                note=note,
            ),
        )
    return result.roll


def codes_of(app: Litestar, roll: CodeRoll, gtin14: str, seqs: list[int] | range) -> list[str]:
    """The codes at positions ``seqs`` of ``roll``."""
    keyring: Keyring = app.state.keyring
    key = keyring.get(roll.kid)
    assert key is not None
    return [encode_code(key, roll.first_index + seq, gtin14) for seq in seqs]


def scan_path(gtin14: str, code: str) -> str:
    """The GS1 Digital Link path a QR code carries (without the resolver host)."""
    return f"/01/{gtin14}/21/{code}"


def random_gtin14() -> str:
    """A random valid GTIN-13, in its 14-digit form."""
    body = "5" + "".join(secrets.choice("0123456789") for _ in range(11))
    return f"0{body}{gtin_check_digit(body)}"


# ---------------------------------------------------------------------------------------------
# Minimal tenancy stand-ins
# ---------------------------------------------------------------------------------------------
async def token_headers(app: Litestar, *, role: str, brand: Brand) -> dict[str, str]:
    """Authorization header of an admin token for a new, real user (minted, no login call:
    the admin API refuses tokens of users that do not exist or are disabled)."""
    settings: Settings = app.state.settings
    user = await make_user(app, role=role, brand=brand)
    token = encode_token(
        settings.auth.jwt_secret,
        subject=str(user.id),
        purpose=TokenPurpose.ADMIN,
        ttl_s=600,
        claims={"role": role, "brand": str(brand.id), "username": user.username},
    )
    return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True, slots=True)
class BrandSetup:
    brand: Brand
    admin: dict[str, str]
    viewer: dict[str, str]


async def setup_brand(app: Litestar) -> BrandSetup:
    """A brand with an active code key (next free kid of the keyring) and admin/viewer tokens."""
    keyring: Keyring = app.state.keyring
    async with _factory(app)() as session:
        used = set((await session.execute(select(BrandCodeKey.kid))).scalars())
        kid = min(k for k in keyring.kids if k not in used)
        slug = f"brand-{secrets.token_hex(4)}"
        brand = Brand(slug=slug, name=slug.title())
        session.add(brand)
        await session.flush()
        session.add(BrandCodeKey(kid=kid, brand_id=brand.id, active=True, next_index=0))
        await session.commit()
    return BrandSetup(
        brand,
        await token_headers(app, role=Role.BRAND_ADMIN, brand=brand),
        await token_headers(app, role=Role.BRAND_VIEWER, brand=brand),
    )


async def add_product(app: Litestar, brand: Brand, *, pin_length: int | None = None) -> Product:
    async with _factory(app)() as session:
        product = Product(
            brand_id=brand.id,
            gtin=random_gtin14(),
            name=f"Product {secrets.token_hex(2)}",
            pin_length=pin_length,
        )
        session.add(product)
        await session.commit()
    return product


async def add_batch(
    app: Litestar, brand: Brand, product: Product, *, lot: str | None = None
) -> Batch:
    async with _factory(app)() as session:
        batch = Batch(
            brand_id=brand.id,
            product_id=product.id,
            lot=lot or f"L{secrets.token_hex(3).upper()}",
            production_date=date(2025, 1, 15),
        )
        session.add(batch)
        await session.commit()
    return batch


async def count_rows(app: Litestar, model: type[CodeRoll]) -> int:
    async with _factory(app)() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)
