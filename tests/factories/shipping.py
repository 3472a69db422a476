"""Factories for aggregation and shipments: a brand with an item roll, a case roll and
distributors, plus helpers that call the real HTTP API (pack, unpack, ship, receive)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from litestar import Litestar

from anticounterfeit.catalogue.models import Brand, Product
from anticounterfeit.codes.models import CodeRoll
from anticounterfeit.gs1.sscc import sscc_check_digit
from channel_control.distributors.models import Distributor
from tests.factories.channel import make_api_key, make_distributor
from tests.factories.codes import add_product, codes_of, make_roll, scan_path, setup_brand

__all__ = [
    "ShippingWorld",
    "make_sscc",
    "pack",
    "palletise",
    "ship",
    "shipping_world",
    "unpack",
]


@dataclass(frozen=True, slots=True)
class ShippingWorld:
    app: Litestar
    brand: Brand
    admin: dict[str, str]
    viewer: dict[str, str]
    product: Product
    items: CodeRoll
    case_product: Product
    cases: CodeRoll
    distributors: list[Distributor]
    keys: list[dict[str, str]]  # X-Api-Key header of each distributor

    def item(self, seq: int) -> str:
        """The Digital Link path of item ``seq`` of the item roll."""
        (code,) = codes_of(self.app, self.items, self.product.gtin, [seq])
        return scan_path(self.product.gtin, code)

    def item_list(self, seqs: range | list[int]) -> list[str]:
        return [
            scan_path(self.product.gtin, c)
            for c in codes_of(self.app, self.items, self.product.gtin, seqs)
        ]

    def case(self, seq: int) -> dict[str, str]:
        """A container reference to case code ``seq`` of the case roll."""
        (code,) = codes_of(self.app, self.cases, self.case_product.gtin, [seq])
        return {"code": scan_path(self.case_product.gtin, code)}

    def item_range(self, start: int, end: int) -> dict[str, Any]:
        return {"roll_id": str(self.items.id), "seq_start": start, "seq_end": end}


async def shipping_world(
    app: Litestar,
    *,
    items: int = 200,
    cases: int = 20,
    distributors: int = 3,
    regions: tuple[tuple[str, ...], ...] = (("CN-GD",), ("CN-ZJ",), ("CN-SH",)),
) -> ShippingWorld:
    """A brand with an active code key, an item roll, a case roll and ``distributors``
    distributors (each with an API key), all committed."""
    setup = await setup_brand(app)
    product = await add_product(app, setup.brand)
    case_product = await add_product(app, setup.brand)
    item_roll = await make_roll(app, setup.brand, product, count=items)
    case_roll = await make_roll(app, setup.brand, case_product, count=cases)
    made = [
        await make_distributor(app, setup.brand, regions=regions[i % len(regions)])
        for i in range(distributors)
    ]
    keys = [{"X-Api-Key": await make_api_key(app, d)} for d in made]
    return ShippingWorld(
        app=app,
        brand=setup.brand,
        admin=setup.admin,
        viewer=setup.viewer,
        product=product,
        items=item_roll,
        case_product=case_product,
        cases=case_roll,
        distributors=made,
        keys=keys,
    )


def make_sscc(serial_reference: int | None = None, *, extension: int = 3) -> str:
    """A valid SSCC: extension digit, a made-up company prefix and serial, check digit."""
    serial = serial_reference if serial_reference is not None else secrets.randbelow(10**9)
    body = f"{extension}0614141{serial:09d}"
    return body + str(sscc_check_digit(body))


async def pack(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    container: dict[str, str],
    *,
    kind: str = "case",
    key: str | None = None,
    expect: int = 200,
    **children: Any,
) -> dict[str, Any]:
    """POST /v1/admin/aggregation/pack; asserts the status, returns the JSON."""
    extra = {"Idempotency-Key": key} if key else {}
    response = await client.post(
        "/v1/admin/aggregation/pack",
        json={"container": container, "kind": kind, **children},
        headers={**headers, **extra},
    )
    assert response.status_code == expect, response.text
    body: dict[str, Any] = response.json()
    return body


async def unpack(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    container: dict[str, str],
    *,
    key: str | None = None,
    expect: int = 200,
    **children: Any,
) -> dict[str, Any]:
    extra = {"Idempotency-Key": key} if key else {}
    response = await client.post(
        "/v1/admin/aggregation/unpack",
        json={"container": container, **children},
        headers={**headers, **extra},
    )
    assert response.status_code == expect, response.text
    body: dict[str, Any] = response.json()
    return body


async def ship(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    *,
    kind: str = "outbound",
    to: Distributor | None = None,
    source: Distributor | None = None,
    document_number: str | None = None,
    expect: int = 201,
    path: str = "/v1/admin/shipments",
    **content: Any,
) -> dict[str, Any]:
    """POST a shipment (admin API by default); asserts the status, returns the JSON."""
    body: dict[str, Any] = {
        "document_number": document_number or f"DN-{uuid.uuid4().hex[:10]}",
        "kind": kind,
        **content,
    }
    if to is not None:
        body["to_distributor_id"] = str(to.id)
    if source is not None:
        body["from_distributor_id"] = str(source.id)
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code == expect, response.text
    out: dict[str, Any] = response.json()
    return out


async def palletise(client: httpx.AsyncClient, w: ShippingWorld, *splits: tuple[int, int]) -> str:
    """Pack item ranges ``splits`` into cases 0, 1, ... and those cases onto a new SSCC
    pallet (admin API); return the SSCC."""
    for i, (start, end) in enumerate(splits):
        await pack(client, w.admin, w.case(i), ranges=[w.item_range(start, end)])
    sscc = make_sscc()
    await pack(
        client,
        w.admin,
        {"sscc": sscc},
        kind="pallet",
        cases=[w.case(i) for i in range(len(splits))],
    )
    return sscc
