"""Factories for traceability and recall tests: a genealogy world built through the HTTP API.

``genealogy_world`` gives one brand with two products, a material lot ``shared`` consumed by
three batches (two of product A, one of product B), a lot ``other`` consumed by batch A1
only, a control batch (product A) that consumed neither, and an activated roll per batch.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from litestar import Litestar

from anticounterfeit.catalogue.models import Batch, Brand, Product
from anticounterfeit.codes.models import CodeRoll
from kernel.auth import Role
from tests.factories.codes import codes_of, make_roll, scan_path, token_headers
from tests.factories.tenancy import make_batch, make_brand, make_product

__all__ = [
    "GenealogyWorld",
    "activate_recall",
    "consume",
    "create_material_lot",
    "create_recall",
    "genealogy_world",
    "scan",
]


async def create_material_lot(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    body = {
        "supplier": "Acme Resins",
        "material": "PET preform",
        "lot_number": f"M-{uuid.uuid4().hex[:8]}",
        "received_date": "2025-01-02",
        **fields,
    }
    response = await client.post("/v1/admin/material-lots/", json=body, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def consume(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    batch_id: uuid.UUID,
    lot_id: str,
    quantity: float = 10.0,
    unit: str = "KGM",
) -> dict[str, Any]:
    response = await client.post(
        f"/v1/admin/batches/{batch_id}/materials",
        json={"material_lot_id": lot_id, "quantity": quantity, "unit": unit},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def create_recall(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    scopes: list[dict[str, Any]],
    **fields: Any,
) -> dict[str, Any]:
    body = {
        "reason": "Preform lot contaminated",
        "severity": "high",
        "consumer_instructions": "Stop using the product and return it to the shop.",
        "distributor_instructions": "Quarantine every unit of the listed lots.",
        "scopes": scopes,
        **fields,
    }
    response = await client.post("/v1/admin/recalls/", json=body, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def activate_recall(
    client: httpx.AsyncClient, headers: dict[str, str], recall_id: str
) -> dict[str, Any]:
    response = await client.post(f"/v1/admin/recalls/{recall_id}/activate", headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def scan(
    client: httpx.AsyncClient, gtin: str, code: str, device: str = "device-aaaa1", **headers: str
) -> httpx.Response:
    return await client.get(
        scan_path(gtin, code),
        headers={"Accept": "application/json", "Cookie": f"sgd={device}", **headers},
    )


@dataclass
class GenealogyWorld:
    brand: Brand
    admin: dict[str, str]
    viewer: dict[str, str]
    product_a: Product
    product_b: Product
    batches: dict[str, Batch]  # a1, a2, b1 (consumed "shared"), control
    rolls: dict[str, CodeRoll]
    shared: dict[str, Any]  # the material lot used by a1, a2, b1
    other: dict[str, Any]  # used by a1 only
    roll_size: int

    def codes(self, app: Litestar, batch: str, seqs: list[int]) -> list[str]:
        product = self.product_b if batch == "b1" else self.product_a
        return codes_of(app, self.rolls[batch], product.gtin, seqs)

    def gtin(self, batch: str) -> str:
        return (self.product_b if batch == "b1" else self.product_a).gtin


async def genealogy_world(
    app: Litestar, client: httpx.AsyncClient, *, roll_size: int = 20
) -> GenealogyWorld:
    brand = await make_brand(app)
    admin = await token_headers(app, role=Role.BRAND_ADMIN, brand=brand)
    viewer = await token_headers(app, role=Role.BRAND_VIEWER, brand=brand)
    product_a = await make_product(app, brand, name="Water 500 ml")
    product_b = await make_product(app, brand, name="Water 1.5 l")
    # The same lot number on both products: batches are keyed by (brand, product, lot).
    batches = {
        "a1": await make_batch(app, brand, product_a, lot="L100"),
        "a2": await make_batch(app, brand, product_a, lot="L101"),
        "b1": await make_batch(app, brand, product_b, lot="L100"),
        "control": await make_batch(app, brand, product_a, lot="L999"),
    }
    rolls = {
        name: await make_roll(
            app,
            brand,
            product_b if name == "b1" else product_a,
            count=roll_size,
            batch=batch,
        )
        for name, batch in batches.items()
    }
    shared = await create_material_lot(client, admin, supplier="Acme Resins", lot_number="PET-7")
    other = await create_material_lot(
        client, admin, supplier="CapCo", material="HDPE cap", lot_number="CAP-3"
    )
    for name in ("a1", "a2", "b1"):
        await consume(client, admin, batches[name].id, shared["id"], quantity=12.5)
    await consume(client, admin, batches["a1"].id, other["id"], quantity=2.0, unit="PCE")
    return GenealogyWorld(
        brand, admin, viewer, product_a, product_b, batches, rolls, shared, other, roll_size
    )
