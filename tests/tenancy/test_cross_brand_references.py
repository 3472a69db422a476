"""A brand can reference only its own objects: a walk over every write endpoint taking an id.

The list of (operation, id input) pairs is derived from the app's own OpenAPI document (path
parameters and request-body properties, nested ones too, named ``id``, ``*_id`` or
``*_ids``), so a new endpoint cannot escape this test: it fails until the endpoint has a
case below (or a stated reason in ``NOT_A_REFERENCE``). Each case creates its objects in
brand B, calls brand A's endpoint with B's id in that one input (everything else valid for
A), and asserts 404 or 422 naming the input, and that no table gained or lost a row.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from litestar import Litestar
from sqlalchemy import func, select

from kernel.auth import Role
from kernel.db import Base
from tests.factories.channel import distributor_login, make_distributor, make_distributor_user
from tests.factories.codes import add_product, codes_of, make_roll, scan_path, setup_brand
from tests.factories.tenancy import make_user, random_gtin14

# Never called: the subscriptions here are refused or never receive an event.
HOOK_URL = "http://127.0.0.1:9/hook"
ID_NAME = re.compile(r"(^|_)ids?$")

# Write operations whose id inputs are no cross-reference a brand could abuse.
NOT_A_REFERENCE: dict[tuple[str, str, str], str] = {
    ("POST", "/v1/admin/users", "brand_id"): "platform admins only name a brand (test_auth)",
    ("PATCH", "/v1/admin/brands/{brand_id}", "brand_id"): "platform admins only",
    ("POST", "/v1/scans", "device_id"): "the consumer's own device, not an object",
    ("POST", "/v1/loyalty/claims", "device_id"): "the consumer's own device, not an object",
    ("POST", "/v1/loyalty/redemptions", "item_id"): (
        "consumers act for no brand: an item of any brand, paid from that brand's account"
    ),
    ("POST", "/v1/admin/brands/{brand_id}/rotate-key", "brand_id"): "platform admins only",
}


def reference_inputs(document: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(METHOD, path, input) for every id-like input of every write operation."""
    schemas = document.get("components", {}).get("schemas", {})
    found: set[tuple[str, str, str]] = set()

    def walk(schema: dict[str, Any], prefix: str, depth: int, out: set[str]) -> None:
        if depth > 6:
            return
        if "$ref" in schema:
            walk(schemas[schema["$ref"].rsplit("/", 1)[-1]], prefix, depth + 1, out)
            return
        for key in ("oneOf", "anyOf", "allOf"):
            for option in schema.get(key, []):
                walk(option, prefix, depth + 1, out)
        if "items" in schema:
            walk(schema["items"], prefix + "[]", depth + 1, out)
        for name, prop in schema.get("properties", {}).items():
            if ID_NAME.search(name):
                out.add(prefix + name)
            walk(prop, prefix + name + ".", depth + 1, out)

    for path, operations in document["paths"].items():
        for method, op in operations.items():
            if method not in ("post", "put", "patch", "delete"):
                continue
            names = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            inputs = {n for n in names if ID_NAME.search(n)}
            for content in op.get("requestBody", {}).get("content", {}).values():
                walk(content.get("schema", {}), "", 0, inputs)
            found |= {(method.upper(), path, n.replace(".[]", "[].")) for n in inputs}
    return found


# ------------------------------------------------------------------------------------------
# Two brands with one of everything, made through the API
# ------------------------------------------------------------------------------------------
@dataclass
class World:
    brand_id: uuid.UUID
    admin: dict[str, str]
    case: dict[str, str]
    distributor_headers: dict[str, str]
    ids: dict[str, str]


async def _post(
    client: httpx.AsyncClient, headers: dict[str, str], path: str, body: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code in (200, 201), f"{path}: {response.text}"
    out: dict[str, Any] = response.json()
    return out


async def make_world(app: Litestar, client: httpx.AsyncClient) -> World:
    setup = await setup_brand(app)
    admin = setup.admin
    brand = setup.brand
    product = await _post(
        client, admin, "/v1/admin/products", {"gtin": random_gtin14(), "name": "Tea"}
    )
    batch = await _post(
        client,
        admin,
        "/v1/admin/batches",
        {"product_id": product["id"], "lot": "L1", "production_date": "2025-01-15"},
    )
    roll = await _post(
        client,
        admin,
        "/v1/admin/rolls",
        {"product_id": product["id"], "count": 20, "activate": True},
    )
    lot = await _post(
        client,
        admin,
        "/v1/admin/material-lots",
        {
            "lot_number": f"M{secrets.token_hex(3)}",
            "material": "leaf",
            "supplier": "Farm",
            "received_date": "2025-01-01",
        },
    )
    distributor = await make_distributor(app, brand)
    downstream = await make_distributor(app, brand, parent=distributor, level="retailer")
    recall = await _post(
        client,
        admin,
        "/v1/admin/recalls",
        {
            "reason": "test",
            "severity": "low",
            "consumer_instructions": "return it",
            "distributor_instructions": "hold it",
            "scopes": [{"kind": "batch", "batch_id": batch["id"]}],
        },
    )
    campaign = await _post(
        client,
        admin,
        "/v1/admin/loyalty/campaigns",
        {
            "name": "Spring",
            "points": 10,
            "starts_at": "2025-01-01T00:00:00Z",
            "ends_at": "2035-01-01T00:00:00Z",
            "product_ids": [product["id"]],
        },
    )
    username = await make_distributor_user(app, distributor)
    # A case holding items 10..11: a container for pack and unpack calls.
    case_product = await add_product(app, brand)
    case_roll = await make_roll(app, brand, case_product, count=5)
    (case_code,) = codes_of(app, case_roll, case_product.gtin, [0])
    case = {"code": scan_path(case_product.gtin, case_code)}
    await _post(
        client,
        admin,
        "/v1/admin/aggregation/pack",
        {
            "container": case,
            "kind": "case",
            "ranges": [{"roll_id": roll["id"], "seq_start": 10, "seq_end": 11}],
        },
    )
    shipment = await _post(
        client,
        admin,
        "/v1/admin/shipments",
        {
            "document_number": _doc(),
            "kind": "outbound",
            "to_distributor_id": str(distributor.id),
            "containers": [case],
        },
    )
    item = await _post(
        client,
        admin,
        "/v1/admin/loyalty/catalogue",
        {"name": "Cup", "cost_points": 10, "stock": 5},
    )
    key = await _post(
        client, admin, f"/v1/admin/distributors/{distributor.id}/api-keys", {"name": "scanner"}
    )
    subscription = await _post(
        client,
        admin,
        "/v1/admin/webhooks/subscriptions",
        {"url": HOOK_URL, "event_types": ["recall.*"]},
    )
    link = await _post(client, admin, "/v1/admin/links", _link_body(product["id"]))
    user = await make_user(app, role=Role.BRAND_VIEWER, brand=brand)
    return World(
        brand_id=brand.id,
        admin=admin,
        case=case,
        distributor_headers=await distributor_login(client, username),
        ids={
            "product": product["id"],
            "batch": batch["id"],
            "roll": roll["id"],
            "material_lot": lot["id"],
            "distributor": str(distributor.id),
            "downstream": str(downstream.id),
            "recall": recall["id"],
            "campaign": campaign["id"],
            "shipment": shipment["shipment"]["id"],
            "item": item["id"],
            "key": key["id"],
            "subscription": subscription["id"],
            "link": link["id"],
            "user": str(user.id),
        },
    )


# ------------------------------------------------------------------------------------------
# The cases: a request of brand A carrying one of brand B's ids
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Call:
    path: str
    body: dict[str, Any] | None
    field: str  # the input at fault, as the problem must name it
    distributor: bool = False  # made with A's distributor credentials
    # A bulk operation answers per input: 200 with nothing done and every input refused.
    bulk: bool = False


Case = Callable[[World, World], Call]


def _doc() -> str:
    return f"DN-{secrets.token_hex(5)}"


def _range(roll: str) -> list[dict[str, Any]]:
    return [{"roll_id": roll, "seq_start": 0, "seq_end": 1}]


def _recall_scopes(kind: str, key: str, value: str) -> list[dict[str, Any]]:
    scope: dict[str, Any] = {"kind": kind, key: value}
    if kind == "code_range":
        scope |= {"seq_start": 0, "seq_end": 1}
    return [scope]


def _recall_body(a: World, scopes: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "reason": "test",
        "severity": "low",
        "consumer_instructions": "return it",
        "distributor_instructions": "hold it",
        "scopes": scopes,
    }


def _link_body(product_id: str, **scope: object) -> dict[str, Any]:
    return {
        "product_id": product_id,
        "link_type": "gs1:pip",
        "href": "https://brand.example.com/product",
        "title": "Product page",
        **scope,
    }


CASES: dict[tuple[str, str, str], Case] = {
    ("POST", "/v1/admin/batches", "product_id"): lambda a, b: Call(
        "/v1/admin/batches",
        {"product_id": b.ids["product"], "lot": "X1", "production_date": "2025-01-15"},
        "product_id",
    ),
    ("POST", "/v1/admin/rolls", "product_id"): lambda a, b: Call(
        "/v1/admin/rolls", {"product_id": b.ids["product"], "count": 5}, "product_id"
    ),
    ("POST", "/v1/admin/rolls", "batch_id"): lambda a, b: Call(
        "/v1/admin/rolls",
        {"product_id": a.ids["product"], "batch_id": b.ids["batch"], "count": 5},
        "batch_id",
    ),
    ("POST", "/v1/admin/rolls/{roll_id}/bind-batch", "roll_id"): lambda a, b: Call(
        f"/v1/admin/rolls/{b.ids['roll']}/bind-batch", {"batch_id": a.ids["batch"]}, "roll_id"
    ),
    ("POST", "/v1/admin/rolls/{roll_id}/bind-batch", "batch_id"): lambda a, b: Call(
        f"/v1/admin/rolls/{a.ids['roll']}/bind-batch", {"batch_id": b.ids["batch"]}, "batch_id"
    ),
    ("POST", "/v1/admin/batches/{batch_id}/materials", "batch_id"): lambda a, b: Call(
        f"/v1/admin/batches/{b.ids['batch']}/materials",
        {"material_lot_id": a.ids["material_lot"], "quantity": 1},
        "batch_id",
    ),
    ("POST", "/v1/admin/batches/{batch_id}/materials", "material_lot_id"): lambda a, b: Call(
        f"/v1/admin/batches/{a.ids['batch']}/materials",
        {"material_lot_id": b.ids["material_lot"], "quantity": 1},
        "material_lot_id",
    ),
    ("POST", "/v1/admin/distributors", "parent_id"): lambda a, b: Call(
        "/v1/admin/distributors",
        {"code": "X-1", "name": "X", "level": "retailer", "parent_id": b.ids["distributor"]},
        "parent_id",
    ),
    ("PATCH", "/v1/admin/distributors/{distributor_id}", "parent_id"): lambda a, b: Call(
        f"/v1/admin/distributors/{a.ids['downstream']}",
        {"parent_id": b.ids["distributor"]},
        "parent_id",
    ),
    ("POST", "/v1/admin/loyalty/campaigns", "product_ids"): lambda a, b: Call(
        "/v1/admin/loyalty/campaigns",
        {
            "name": "X",
            "points": 5,
            "starts_at": "2025-01-01T00:00:00Z",
            "ends_at": "2035-01-01T00:00:00Z",
            "product_ids": [a.ids["product"], b.ids["product"]],
        },
        "product_ids",
    ),
    ("POST", "/v1/admin/links", "product_id"): lambda a, b: Call(
        "/v1/admin/links", _link_body(b.ids["product"]), "product_id"
    ),
    ("POST", "/v1/admin/links", "batch_id"): lambda a, b: Call(
        "/v1/admin/links", _link_body(a.ids["product"], batch_id=b.ids["batch"]), "batch_id"
    ),
    ("POST", "/v1/admin/links", "roll_id"): lambda a, b: Call(
        "/v1/admin/links",
        _link_body(a.ids["product"], roll_id=b.ids["roll"], first_seq=0, last_seq=1),
        "roll_id",
    ),
    ("POST", "/v1/admin/loyalty/premises", "distributor_id"): lambda a, b: Call(
        "/v1/admin/loyalty/premises",
        {
            "name": "Depot",
            "lat": 23.1,
            "lon": 113.3,
            "radius_m": 100,
            "distributor_id": b.ids["distributor"],
        },
        "distributor_id",
    ),
    ("POST", "/v1/admin/recalls", "scopes[].batch_id"): lambda a, b: Call(
        "/v1/admin/recalls",
        _recall_body(a, _recall_scopes("batch", "batch_id", b.ids["batch"])),
        "batch_id",
    ),
    ("POST", "/v1/admin/recalls", "scopes[].material_lot_id"): lambda a, b: Call(
        "/v1/admin/recalls",
        _recall_body(a, _recall_scopes("material_lot", "material_lot_id", b.ids["material_lot"])),
        "material_lot_id",
    ),
    ("POST", "/v1/admin/recalls", "scopes[].roll_id"): lambda a, b: Call(
        "/v1/admin/recalls",
        _recall_body(a, _recall_scopes("code_range", "roll_id", b.ids["roll"])),
        "roll_id",
    ),
    ("PATCH", "/v1/admin/recalls/{recall_id}", "scopes[].batch_id"): lambda a, b: Call(
        f"/v1/admin/recalls/{a.ids['recall']}",
        {"scopes": _recall_scopes("batch", "batch_id", b.ids["batch"])},
        "batch_id",
    ),
    ("PATCH", "/v1/admin/recalls/{recall_id}", "scopes[].material_lot_id"): lambda a, b: Call(
        f"/v1/admin/recalls/{a.ids['recall']}",
        {"scopes": _recall_scopes("material_lot", "material_lot_id", b.ids["material_lot"])},
        "material_lot_id",
    ),
    ("PATCH", "/v1/admin/recalls/{recall_id}", "scopes[].roll_id"): lambda a, b: Call(
        f"/v1/admin/recalls/{a.ids['recall']}",
        {"scopes": _recall_scopes("code_range", "roll_id", b.ids["roll"])},
        "roll_id",
    ),
    ("POST", "/v1/admin/shipments", "to_distributor_id"): lambda a, b: Call(
        "/v1/admin/shipments",
        {
            "document_number": _doc(),
            "kind": "outbound",
            "to_distributor_id": b.ids["distributor"],
            "ranges": _range(a.ids["roll"]),
        },
        "to_distributor_id",
    ),
    ("POST", "/v1/admin/shipments", "from_distributor_id"): lambda a, b: Call(
        "/v1/admin/shipments",
        {
            "document_number": _doc(),
            "kind": "transfer",
            "from_distributor_id": b.ids["distributor"],
            "to_distributor_id": a.ids["distributor"],
            "ranges": _range(a.ids["roll"]),
        },
        "from_distributor_id",
    ),
    ("POST", "/v1/admin/shipments", "ranges[].roll_id"): lambda a, b: Call(
        "/v1/admin/shipments",
        {
            "document_number": _doc(),
            "kind": "outbound",
            "to_distributor_id": a.ids["distributor"],
            "ranges": _range(b.ids["roll"]),
        },
        "ranges[0]",
    ),
    ("POST", "/v1/admin/aggregation/pack", "ranges[].roll_id"): lambda a, b: Call(
        "/v1/admin/aggregation/pack",
        {
            "container": a.case,
            "kind": "case",
            "ranges": _range(b.ids["roll"]),
        },
        "ranges[0]",
        bulk=True,
    ),
    ("POST", "/v1/admin/aggregation/unpack", "ranges[].roll_id"): lambda a, b: Call(
        "/v1/admin/aggregation/unpack",
        {"container": a.case, "ranges": _range(b.ids["roll"])},
        "ranges[0]",
        bulk=True,
    ),
    ("POST", "/v1/admin/webhooks/subscriptions", "distributor_id"): lambda a, b: Call(
        "/v1/admin/webhooks/subscriptions",
        {
            "url": HOOK_URL,
            "event_types": ["recall.*"],
            "distributor_id": b.ids["distributor"],
        },
        "distributor_id",
    ),
    ("POST", "/v1/distributor/shipments", "to_distributor_id"): lambda a, b: Call(
        "/v1/distributor/shipments",
        {
            "document_number": _doc(),
            "kind": "transfer",
            "to_distributor_id": b.ids["distributor"],
            "ranges": _range(a.ids["roll"]),
        },
        "to_distributor_id",
        distributor=True,
    ),
    ("POST", "/v1/distributor/shipments", "ranges[].roll_id"): lambda a, b: Call(
        "/v1/distributor/shipments",
        {
            "document_number": _doc(),
            "kind": "transfer",
            "to_distributor_id": a.ids["downstream"],
            "ranges": _range(b.ids["roll"]),
        },
        "ranges[0]",
        distributor=True,
    ),
    ("POST", "/v1/distributor/aggregation/pack", "ranges[].roll_id"): lambda a, b: Call(
        "/v1/distributor/aggregation/pack",
        {
            "container": a.case,
            "kind": "case",
            "ranges": _range(b.ids["roll"]),
        },
        "ranges[0]",
        bulk=True,
        distributor=True,
    ),
    ("POST", "/v1/distributor/aggregation/unpack", "ranges[].roll_id"): lambda a, b: Call(
        "/v1/distributor/aggregation/unpack",
        {"container": a.case, "ranges": _range(b.ids["roll"])},
        "ranges[0]",
        bulk=True,
        distributor=True,
    ),
}

BULK_RECORDS = frozenset({"aggregation_operations", "audit_log"})

# Path ids of the object the operation acts on: B's object under A's credentials, with a
# body that would be valid for A's own object.
PATH_BODIES: dict[tuple[str, str], dict[str, Any] | None] = {
    ("DELETE", "/v1/admin/batches/{batch_id}"): None,
    ("PATCH", "/v1/admin/batches/{batch_id}"): {"line": "L2"},
    ("POST", "/v1/admin/batches/{batch_id}/materials"): {"quantity": 1},
    ("DELETE", "/v1/admin/batches/{batch_id}/materials/{material_lot_id}"): None,
    ("PUT", "/v1/admin/batches/{batch_id}/shift"): {"shift": "A"},
    ("POST", "/v1/admin/batches/{batch_id}/quality"): {
        "outcome": "pass",
        "test": "moisture",
        "tested_at": "2025-01-16T08:00:00+08:00",
    },
    ("PATCH", "/v1/admin/distributors/{distributor_id}"): {"name": "Renamed"},
    ("POST", "/v1/admin/distributors/{distributor_id}/api-keys"): {"name": "scanner"},
    ("POST", "/v1/admin/distributors/{distributor_id}/users"): {
        "username": "walk-user",
        "password": "correct horse battery",
    },
    ("PATCH", "/v1/admin/loyalty/campaigns/{campaign_id}"): {"name": "Renamed"},
    ("POST", "/v1/admin/loyalty/campaigns/{campaign_id}/prizes"): {
        "name": "Cup",
        "probability_ppm": 1000,
        "stock": 1,
    },
    ("DELETE", "/v1/admin/products/{product_id}"): None,
    ("PATCH", "/v1/admin/products/{product_id}"): {"name": "Renamed"},
    ("PATCH", "/v1/admin/recalls/{recall_id}"): {"reason": "renamed"},
    ("POST", "/v1/admin/recalls/{recall_id}/activate"): None,
    ("POST", "/v1/admin/recalls/{recall_id}/close"): None,
    ("POST", "/v1/admin/rolls/{roll_id}/activate"): {},
    ("POST", "/v1/admin/rolls/{roll_id}/bind-batch"): {},  # batch_id: A's, filled in below
    ("POST", "/v1/admin/rolls/{roll_id}/void"): {},
    ("POST", "/v1/admin/shipments/{shipment_id}/receive"): None,
    ("POST", "/v1/distributor/recalls/{recall_id}/confirmations"): {
        "quarantined": 0,
        "returned": 0,
    },
    ("POST", "/v1/distributor/shipments/{shipment_id}/receive"): None,
    ("DELETE", "/v1/admin/distributors/{distributor_id}/api-keys/{key_id}"): None,
    ("PATCH", "/v1/admin/loyalty/catalogue/{item_id}"): {"name": "Renamed"},
    ("POST", "/v1/admin/users/{user_id}/disable"): None,
    ("DELETE", "/v1/admin/webhooks/subscriptions/{subscription_id}"): None,
    ("PATCH", "/v1/admin/webhooks/subscriptions/{subscription_id}"): {"description": "x"},
    ("PATCH", "/v1/admin/links/{link_id}"): {"title": "Renamed"},
    ("DELETE", "/v1/admin/links/{link_id}"): None,
    ("POST", "/v1/admin/webhooks/subscriptions/{subscription_id}/rotate-secret"): None,
}

# Path-id operations this walk does not make objects for, and where their brand scoping is
# proved instead.
PATH_NOT_WALKED: dict[tuple[str, str], str] = {
    ("POST", "/v1/admin/diversion/alerts/{alert_id}/notes"): (
        "tests/channel_control/test_diversion.py::test_another_brand_cannot_see_or_touch_the_alert"
    ),
    ("POST", "/v1/admin/diversion/alerts/{alert_id}/{action}"): (
        "tests/channel_control/test_diversion.py::test_another_brand_cannot_see_or_touch_the_alert"
    ),
    ("POST", "/v1/admin/loyalty/claims/{claim_id}/{action}"): (
        "tests/loyalty/test_admin.py::test_brands_cannot_see_or_change_each_others_loyalty_data"
    ),
    ("POST", "/v1/admin/loyalty/consumers/{consumer_id}/adjustments"): (
        "consumers belong to no brand; the adjustment is on the acting brand's account"
    ),
    ("POST", "/v1/admin/webhooks/deliveries/{delivery_id}/replay"): (
        "tests/notifications/test_delivery.py::test_stats_and_brand_isolation_of_deliveries"
    ),
    ("POST", "/v1/distributor/inbox/{entry_id}/read"): (
        "tests/notifications/test_inboxes.py::test_distributor_inbox_shows_only_the_callers_entries"
    ),
    ("POST", "/v1/inbox/{entry_id}/read"): "a consumer's inbox, keyed by device: no brand acts",
    ("PATCH", "/v1/admin/brands/{brand_id}"): "platform admins only",
    ("POST", "/v1/admin/brands/{brand_id}/rotate-key"): "platform admins only",
}

# The object a 404 names where it is not the last path id's name (a link, an API key).
PATH_OBJECT_NAMES = {
    "/v1/admin/batches/{batch_id}/materials/{material_lot_id}": "consumption",
    "/v1/admin/distributors/{distributor_id}/api-keys/{key_id}": "api_key",
}

PATH_PARAM = re.compile(r"\{([a-z_]+)\}")


def path_call(method: str, template: str, a: World, b: World) -> Call:
    """B's object in the last path id of ``template`` (A's in any before it: A's batch, B's
    material lot); the body valid for A's."""
    names = PATH_PARAM.findall(template)
    path = template
    for n, name in enumerate(names):
        owner = b if n == len(names) - 1 else a
        path = path.replace(f"{{{name}}}", owner.ids[name.removesuffix("_id")])
    body = PATH_BODIES[(method, template)]
    if body is not None:
        body = dict(body)
        if template.endswith("/materials"):
            body["material_lot_id"] = a.ids["material_lot"]
        if template.endswith("/bind-batch"):
            body["batch_id"] = a.ids["batch"]
    field = PATH_OBJECT_NAMES.get(template, names[-1])
    return Call(path, body, field, distributor=template.startswith("/v1/distributor/"))


async def row_counts(app: Litestar) -> dict[str, int]:
    async with app.state.session_factory() as session:
        return {
            table.name: (
                await session.execute(select(func.count()).select_from(table))
            ).scalar_one()
            for table in Base.metadata.sorted_tables
        }


async def assert_refused(
    app: Litestar,
    client: httpx.AsyncClient,
    method: str,
    call: Call,
    a: World,
    label: str,
) -> None:
    headers = a.distributor_headers if call.distributor else a.admin
    before = await row_counts(app)
    response = await client.request(method, call.path, json=call.body, headers=headers)
    after = await row_counts(app)
    if call.bulk:
        answer = response.json()
        assert response.status_code == 200, f"{label}: {response.status_code} {response.text}"
        assert answer["units"] == answer["containers"] == 0, f"{label}: {answer}"
        assert answer["failures"], f"{label}: nothing refused"
        problem = answer["failures"][0]
    else:
        assert response.status_code in (404, 422), (
            f"{label}: {response.status_code} {response.text}"
        )
        problem = response.json()
    named = str(problem.get("field") or "")
    # A path id is named by the field, or by the code of its 404 (``batch_not_found``,
    # ``unknown_roll``).
    thing = call.field.removesuffix("_id")
    by_code = problem.get("code") in (f"{thing}_not_found", f"unknown_{thing}")
    assert call.field in named or (response.status_code == 404 and by_code), (
        f"{label}: the problem names {named!r} ({problem.get('code')}), not {call.field!r}"
    )
    changed = {t: (before[t], after[t]) for t in before if before[t] != after[t]}
    if call.bulk:  # the refused operation itself is logged (replays answer the same)
        changed = {t: n for t, n in changed.items() if t not in BULK_RECORDS}
    assert not changed, f"{label}: rows written {changed}"


async def test_every_reference_to_another_brands_object_is_refused(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    inputs = reference_inputs(app.openapi_schema.to_schema())
    body_inputs = {
        (m, p, n) for m, p, n in inputs if f"{{{n}}}" not in p and (m, p, n) not in NOT_A_REFERENCE
    }
    assert body_inputs <= set(CASES), (
        f"write endpoints taking an id with no cross-brand case: {sorted(body_inputs - set(CASES))}"
    )
    a = await make_world(app, client)
    b = await make_world(app, client)
    failures: list[str] = []
    for (method, path, name), case in sorted(CASES.items()):
        try:
            await assert_refused(app, client, method, case(a, b), a, f"{method} {path} {name}")
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, "\n".join(failures)


async def test_every_write_on_another_brands_object_is_404(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    inputs = reference_inputs(app.openapi_schema.to_schema())
    path_ops = {(m, p) for m, p, n in inputs if f"{{{n}}}" in p}
    unlisted = path_ops - set(PATH_BODIES) - set(PATH_NOT_WALKED)
    assert not unlisted, f"write endpoints on an object with no cross-brand case: {unlisted}"
    a = await make_world(app, client)
    b = await make_world(app, client)
    failures: list[str] = []
    for method, template in sorted(PATH_BODIES):
        call = path_call(method, template, a, b)
        try:
            await assert_refused(app, client, method, call, a, f"{method} {template}")
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, "\n".join(failures)
