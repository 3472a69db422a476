"""Factories for loyalty tests: consumers with tokens, campaigns, scanned codes ready to claim.

Consumers are made through ``loyalty.identity`` (as a WeChat login would) and get a real
consumer JWT; campaigns and prizes go through the admin API; codes are scanned through
``POST /v1/scans`` so that the first scan is the gateway's own record.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from litestar import Litestar
from sqlalchemy import select

from anticounterfeit.catalogue.models import Brand, Product
from anticounterfeit.codes.models import CodeRoll
from kernel.db import utcnow
from kernel.settings import Settings
from kernel.uow import session_scope
from loyalty import identity
from loyalty.models import Account, LedgerEntry
from tests.factories.codes import codes_of, make_roll, scan_path
from tests.factories.tenancy import brand_admin, make_product

__all__ = [
    "LoyaltyBrand",
    "account_of",
    "claim",
    "consumer",
    "ledger_sum",
    "make_campaign",
    "scan",
    "setup_loyalty",
]

RESOLVER = "https://id.example.test"


@dataclass(frozen=True, slots=True)
class Consumer:
    id: uuid.UUID
    headers: dict[str, str]
    openid: str | None


async def consumer(app: Litestar, openid: str | None = None) -> Consumer:
    """A WeChat consumer (random openid unless given) and its Bearer header."""
    openid = openid or f"o{secrets.token_hex(12)}"
    settings: Settings = app.state.settings
    async with session_scope(app.state.session_factory) as session:
        row = await identity.consumer_by_openid(session, openid)
        token = identity.issue_token(settings.auth.jwt_secret, row, 600)
    return Consumer(row.id, {"Authorization": f"Bearer {token.access_token}"}, openid)


@dataclass(frozen=True, slots=True)
class LoyaltyBrand:
    brand: Brand
    admin: dict[str, str]
    product: Product
    roll: CodeRoll
    codes: list[str]

    def url(self, seq: int) -> str:
        return RESOLVER + scan_path(self.product.gtin, self.codes[seq])


async def setup_loyalty(
    app: Litestar,
    client: httpx.AsyncClient,
    *,
    count: int = 50,
    pin_length: int | None = None,
    points: int | None = 10,
    **campaign: Any,
) -> LoyaltyBrand:
    """A brand with a logged-in admin, a product, an active roll and (unless ``points`` is
    None) a running points campaign."""
    brand, admin = await brand_admin(app, client)
    product = await make_product(app, brand, pin_length=pin_length)
    roll = await make_roll(app, brand, product, count=count)
    setup = LoyaltyBrand(
        brand, admin, product, roll, codes_of(app, roll, product.gtin, range(count))
    )
    if points is not None:
        await make_campaign(client, admin, points=points, **campaign)
    return setup


async def make_campaign(
    client: httpx.AsyncClient, admin: dict[str, str], **fields: Any
) -> dict[str, Any]:
    now = utcnow()
    body: dict[str, Any] = {
        "name": f"Campaign {secrets.token_hex(3)}",
        "starts_at": (now - timedelta(days=1)).isoformat(),
        "ends_at": (now + timedelta(days=30)).isoformat(),
    }
    body.update(fields)
    if "multiplier" in body:
        body.setdefault("kind", "multiplier")
    response = await client.post("/v1/admin/loyalty/campaigns", json=body, headers=admin)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def scan(client: httpx.AsyncClient, url: str, device_id: str, **extra: Any) -> dict[str, Any]:
    response = await client.post("/v1/scans", json={"url": url, "device_id": device_id, **extra})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def claim(
    client: httpx.AsyncClient, who: Consumer, url: str, device_id: str, **extra: Any
) -> httpx.Response:
    return await client.post(
        "/v1/loyalty/claims",
        json={"url": url, "device_id": device_id, **extra},
        headers=who.headers,
    )


async def account_of(app: Litestar, consumer_id: uuid.UUID, brand_id: uuid.UUID) -> Account | None:
    async with app.state.session_factory() as session:
        row: Account | None = await session.get(Account, (consumer_id, brand_id))
        return row


async def ledger_sum(
    app: Litestar, consumer_id: uuid.UUID, brand_id: uuid.UUID, bucket: str = "available"
) -> int:
    async with app.state.session_factory() as session:
        deltas = (
            await session.execute(
                select(LedgerEntry.delta).where(
                    LedgerEntry.consumer_id == consumer_id,
                    LedgerEntry.brand_id == brand_id,
                    LedgerEntry.bucket == bucket,
                )
            )
        ).scalars()
        return sum(deltas)
