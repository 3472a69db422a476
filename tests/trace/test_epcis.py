"""EPCIS 2.0 export through HTTP, validated against GS1's final published JSON schema
(tests/data/EPCIS-JSON-Schema.json, see its README for source and licence)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from litestar import Litestar

from tests.factories.channel import make_api_key, make_distributor
from tests.factories.codes import codes_of, make_roll, scan_path
from tests.factories.shipping import make_sscc, pack, ship, unpack
from tests.factories.tenancy import make_product
from tests.factories.trace import activate_recall, create_recall, genealogy_world

SCHEMA_PATH = Path(__file__).parent.parent / "data" / "EPCIS-JSON-Schema.json"
RESOLVER = "https://id.example.test"  # tests' settings.gateway.resolver_base_url


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(
        schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )


def _errors(validator: jsonschema.Draft7Validator, document: dict[str, Any]) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def test_the_schema_rejects_what_it_should(validator: jsonschema.Draft7Validator) -> None:
    """The vendored schema is really enforced (so a passing export means something)."""
    event = {
        "type": "ObjectEvent",
        "eventTime": "2025-01-01T00:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "action": "OBSERVE",
        "epcList": [f"{RESOLVER}/01/09506000134352/21/ABC"],
        "bizStep": "holding",
        "disposition": "recalled",
    }
    good = {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2025-01-01T00:00:00Z",
        "epcisBody": {"eventList": [event]},
    }
    assert _errors(validator, good) == []
    for breaks in (
        lambda d: d["epcisBody"]["eventList"][0].pop("eventTimeZoneOffset"),
        lambda d: d["epcisBody"]["eventList"][0].update(action="RECALL"),
        lambda d: d["epcisBody"]["eventList"][0].update(disposition="not a known disposition"),
        lambda d: d["epcisBody"]["eventList"][0].update(bizStep="recalling"),
        lambda d: d["epcisBody"]["eventList"][0].update(quantityList=[{"epcClass": "x y"}]),
        lambda d: d.pop("creationDate"),
    ):
        broken = copy.deepcopy(good)
        breaks(broken)
        assert _errors(validator, broken), broken


async def test_batch_history_exports_as_valid_epcis(
    app: Litestar, client: httpx.AsyncClient, validator: jsonschema.Draft7Validator
) -> None:
    w = await genealogy_world(app, client, roll_size=20)
    a1 = w.batches["a1"]
    void = await client.post(
        f"/v1/admin/rolls/{w.rolls['a1'].id}/void",
        json={"seq_from": 15, "seq_to": 20, "reason": "misprint"},
        headers=w.admin,
    )
    assert void.status_code == 200, void.text
    recall = await create_recall(
        client,
        w.admin,
        [{"kind": "material_lot", "material_lot_id": w.shared["id"]}],
    )
    await activate_recall(client, w.admin, recall["id"])
    # A code-range recall over a2 only does not touch a1.
    other = await create_recall(
        client, w.admin, [{"kind": "code_range", "roll_id": str(w.rolls["a2"].id), "seq_end": 3}]
    )
    await activate_recall(client, w.admin, other["id"])

    response = await client.get(f"/v1/admin/epcis/batches/{a1.id}", headers=w.viewer)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/ld+json")
    document = response.json()
    assert _errors(validator, document) == []
    assert document["type"] == "EPCISDocument"
    assert document["schemaVersion"] == "2.0"
    events = document["epcisBody"]["eventList"]
    epc_class = f"{RESOLVER}/01/{w.product_a.gtin}/10/L100"

    def of(biz_step: str) -> list[dict[str, Any]]:
        return [e for e in events if e["bizStep"] == biz_step]

    [issued] = of("encoding")
    assert (issued["type"], issued["action"], issued["disposition"]) == (
        "ObjectEvent",
        "ADD",
        "encoded",
    )
    assert issued["quantityList"] == [{"epcClass": epc_class, "quantity": 20}]
    [commissioned] = of("commissioning")
    assert (commissioned["action"], commissioned["disposition"]) == ("ADD", "active")
    assert commissioned["quantityList"][0]["quantity"] == 20
    [voided] = of("decommissioning")
    assert (voided["action"], voided["disposition"]) == ("DELETE", "inactive")
    assert voided["quantityList"] == [{"epcClass": epc_class, "quantity": 5}]
    [recalled] = of("holding")
    assert (recalled["action"], recalled["disposition"]) == ("OBSERVE", "recalled")
    assert recalled["quantityList"] == [{"epcClass": epc_class, "quantity": 20}]
    assert [e["eventTime"] for e in events] == sorted(e["eventTime"] for e in events)
    assert len({e["eventID"] for e in events}) == len(events)
    # Stable event ids: the same history exports the same events.
    again = (await client.get(f"/v1/admin/epcis/batches/{a1.id}", headers=w.viewer)).json()
    assert [e["eventID"] for e in again["epcisBody"]["eventList"]] == [e["eventID"] for e in events]

    a2 = (await client.get(f"/v1/admin/epcis/batches/{w.batches['a2'].id}", headers=w.admin)).json()
    assert _errors(validator, a2) == []
    a2_recalls = [
        e["quantityList"][0]["quantity"]
        for e in a2["epcisBody"]["eventList"]
        if e["bizStep"] == "holding"
    ]
    assert sorted(a2_recalls) == [3, 20]  # the code range (3) and the material lot (all 20)


async def test_code_history_uses_its_instance_digital_link(
    app: Litestar, client: httpx.AsyncClient, validator: jsonschema.Draft7Validator
) -> None:
    w = await genealogy_world(app, client)
    [code, outside] = w.codes(app, "control", [2, 3])
    recall = await create_recall(
        client,
        w.admin,
        [
            {
                "kind": "code_range",
                "roll_id": str(w.rolls["control"].id),
                "seq_start": 2,
                "seq_end": 3,
            }
        ],
    )
    await activate_recall(client, w.admin, recall["id"])
    link = f"{RESOLVER}/01/{w.gtin('control')}/21/{code}"
    response = await client.get("/v1/admin/epcis/codes", params={"code": link}, headers=w.admin)
    assert response.status_code == 200, response.text
    document = response.json()
    assert _errors(validator, document) == []
    events = document["epcisBody"]["eventList"]
    assert [e["bizStep"] for e in events] == ["encoding", "commissioning", "holding"]
    assert all(e["epcList"] == [link] for e in events)
    assert "quantityList" not in events[0]

    plain = await client.get(
        "/v1/admin/epcis/codes",
        params={"code": f"/01/{w.gtin('control')}/21/{outside}"},
        headers=w.admin,
    )
    assert _errors(validator, plain.json()) == []
    assert [e["bizStep"] for e in plain.json()["epcisBody"]["eventList"]] == [
        "encoding",
        "commissioning",
    ]

    missing = await client.get("/v1/admin/epcis/codes", headers=w.admin)
    assert missing.status_code == 422
    assert missing.json()["field"] == "code"
    forged = await client.get(
        "/v1/admin/epcis/codes",
        params={"code": f"/01/{w.gtin('control')}/21/{'A' * 20}"},
        headers=w.admin,
    )
    assert forged.status_code == 404
    assert forged.json()["field"] == "code"


async def test_code_history_includes_packing_shipping_and_receiving(
    app: Litestar, client: httpx.AsyncClient, validator: jsonschema.Draft7Validator
) -> None:
    w = await genealogy_world(app, client)
    case_product = await make_product(app, w.brand, name="Case of 6")
    case_roll = await make_roll(app, w.brand, case_product, count=1)
    [case_code] = codes_of(app, case_roll, case_product.gtin, [0])
    case_ref = {"code": scan_path(case_product.gtin, case_code)}
    unit, other = w.codes(app, "a1", [4, 5])
    await pack(
        client,
        w.admin,
        case_ref,
        codes=[scan_path(w.gtin("a1"), unit), scan_path(w.gtin("a1"), other)],
    )
    sscc = make_sscc()
    await pack(client, w.admin, {"sscc": sscc}, kind="pallet", cases=[case_ref])
    north = await make_distributor(app, w.brand)
    shipped = await ship(client, w.admin, to=north, containers=[{"sscc": sscc}])
    received = await client.post(
        f"/v1/distributor/shipments/{shipped['shipment']['id']}/receive",
        headers={"X-Api-Key": await make_api_key(app, north)},
    )
    assert received.status_code == 200, received.text

    link = f"{RESOLVER}/01/{w.gtin('a1')}/21/{unit}"
    response = await client.get("/v1/admin/epcis/codes", params={"code": link}, headers=w.admin)
    assert response.status_code == 200, response.text
    document = response.json()
    assert _errors(validator, document) == []
    events = document["epcisBody"]["eventList"]
    steps = [e["bizStep"] for e in events]
    assert steps == ["encoding", "commissioning", "packing", "packing", "shipping", "receiving"]
    case_uri = f"{RESOLVER}/01/{case_product.gtin}/21/{case_code}"
    into_case, onto_pallet = (e for e in events if e["bizStep"] == "packing")
    assert into_case["type"] == "AggregationEvent"
    assert (into_case["parentID"], into_case["childEPCs"]) == (case_uri, [link])
    assert (onto_pallet["parentID"], onto_pallet["childEPCs"]) == (
        f"{RESOLVER}/00/{sscc}",
        [case_uri],
    )
    shipping = next(e for e in events if e["bizStep"] == "shipping")
    assert shipping["disposition"] == "in_transit"
    assert shipping["epcList"] == [link]
    assert shipping["destinationList"] == [
        {"type": "owning_party", "destination": f"urn:uuid:{north.id}"}
    ]

    # The batch's document has the same history at class level (quantities of its units).
    batch_doc = (
        await client.get(f"/v1/admin/epcis/batches/{w.batches['a1'].id}", headers=w.admin)
    ).json()
    assert _errors(validator, batch_doc) == []
    batch_events = batch_doc["epcisBody"]["eventList"]
    epc_class = f"{RESOLVER}/01/{w.gtin('a1')}/10/L100"
    packed = [e for e in batch_events if e["bizStep"] == "packing"]
    assert [(e["parentID"], e.get("childQuantityList"), e.get("childEPCs")) for e in packed] == [
        (case_uri, [{"epcClass": epc_class, "quantity": 2}], None),
        (f"{RESOLVER}/00/{sscc}", None, [case_uri]),
    ]
    moved = [e for e in batch_events if e["bizStep"] in ("shipping", "receiving")]
    assert [(e["bizStep"], e["quantityList"]) for e in moved] == [
        ("shipping", [{"epcClass": epc_class, "quantity": 2}]),
        ("receiving", [{"epcClass": epc_class, "quantity": 2}]),
    ]
    assert moved[0]["destinationList"][0]["destination"] == f"urn:uuid:{north.id}"
    other_batch = (
        await client.get(f"/v1/admin/epcis/batches/{w.batches['a2'].id}", headers=w.admin)
    ).json()
    assert not [e for e in other_batch["epcisBody"]["eventList"] if e["bizStep"] == "shipping"]

    # Unpacking the unit shows as an AggregationEvent DELETE.
    await unpack(client, w.admin, case_ref, codes=[scan_path(w.gtin("a1"), unit)])
    after = (
        await client.get("/v1/admin/epcis/codes", params={"code": link}, headers=w.admin)
    ).json()
    assert _errors(validator, after) == []
    deleted = [e for e in after["epcisBody"]["eventList"] if e["bizStep"] == "unpacking"]
    assert len(deleted) == 1
    assert deleted[0]["action"] == "DELETE"
    assert deleted[0]["parentID"] == case_uri
    batch_after = (
        await client.get(f"/v1/admin/epcis/batches/{w.batches['a1'].id}", headers=w.admin)
    ).json()
    assert _errors(validator, batch_after) == []
    assert any(e["bizStep"] == "unpacking" for e in batch_after["epcisBody"]["eventList"])
