"""EPCIS 2.0 export through HTTP, validated against GS1's published JSON schema
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

from tests.factories.trace import activate_recall, create_recall, genealogy_world

SCHEMA_PATH = Path(__file__).parent.parent / "data" / "EPCIS-JSON-Schema.json"
RESOLVER = "https://id.example.test"  # tests' settings.resolver_base_url


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
