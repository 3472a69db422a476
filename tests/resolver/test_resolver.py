"""The GS1-conformant resolver over HTTP: the checks of GS1's resolver standard as tests
(well-known description, HEAD, CORS, 400, every path form, linkType, linksets, Link header,
compressed links) and the rule that only a consumer's verification is a scan."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import jsonschema
import pytest
from litestar import Litestar
from sqlalchemy import func, select

from anticounterfeit.gs1.compression import compress_ais
from gateway.models import Scan
from tests.factories.codes import codes_of, make_roll
from tests.factories.loyalty import claim, consumer, scan, setup_loyalty
from tests.factories.tenancy import brand_admin, make_batch, make_brand, make_product
from tests.factories.trace import activate_recall, create_recall

JSON = {"Accept": "application/json"}
LINKSET_SCHEMA = json.loads(
    (Path(__file__).parents[1] / "data" / "linkset.schema.json").read_text()
)
VOC = "https://gs1.org/voc/"


async def scannable(app: Litestar):  # type: ignore[no-untyped-def]
    brand = await make_brand(app)
    product = await make_product(app, brand)
    batch = await make_batch(app, brand, product)
    roll = await make_roll(app, brand, product, count=20, activate=True, batch=batch)
    return brand, product, batch, roll


async def scan_count(app: Litestar) -> int:
    async with app.state.session_factory() as session:
        return int((await session.execute(select(func.count()).select_from(Scan))).scalar_one())


async def test_well_known_resolver_description(client: httpx.AsyncClient) -> None:
    response = await client.get("/.well-known/gs1resolver")
    assert response.status_code == 200
    body = response.json()
    assert body["resolverRoot"] == "https://id.example.test"
    assert body["supportedPrimaryKeys"] == ["01"]
    assert {"namespace": VOC, "prefix": "gs1:"} in body["supportedLinkType"]
    assert "gs1:verificationService" in body["activeLinkTypes"]
    assert response.headers["access-control-allow-origin"] == "*"


async def test_default_link_of_a_serialised_item_is_the_verdict(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    _, product, _, roll = await scannable(app)
    [code] = codes_of(app, roll, product.gtin, [1])
    response = await client.get(f"/01/{product.gtin}/21/{code}", headers=JSON)
    assert response.status_code == 200
    assert response.json()["verdict"] == "genuine"
    assert response.headers["access-control-allow-origin"] == "*"
    assert "Link" in response.headers["access-control-expose-headers"]
    link = response.headers["link"]
    assert 'rel="linkset"' in link
    assert f'rel="{VOC}verificationService"' in link
    assert f'rel="{VOC}recallStatus"' in link
    assert await scan_count(app) == 1


@pytest.mark.parametrize(
    "form",
    [
        "/dl/01/{gtin}/21/{code}",
        "/dl/01/01/{gtin}/21/{code}",
        "/01/{gtin}/10/{lot}/21/{code}",
        "/01/{gtin}/22/V1/10/{lot}/21/{code}",
        "/a/b/01/{gtin}/22/V1/21/{code}?17=301231",
    ],
)
async def test_every_path_form_resolves(
    app: Litestar, client: httpx.AsyncClient, form: str
) -> None:
    _, product, batch, roll = await scannable(app)
    [code] = codes_of(app, roll, product.gtin, [2])
    path = form.format(gtin=product.gtin, code=code, lot=batch.lot)
    response = await client.get(path, headers=JSON)
    assert response.status_code == 200, response.text
    assert response.json()["verdict"] == "genuine"


async def test_compressed_link_on_get_and_post(app: Litestar, client: httpx.AsyncClient) -> None:
    _, product, _, roll = await scannable(app)
    first, second = codes_of(app, roll, product.gtin, [3, 4])
    response = await client.get("/" + compress_ais({"01": product.gtin, "21": first}), headers=JSON)
    assert response.status_code == 200, response.text
    assert response.json()["verdict"] == "genuine"
    url = "https://other.example/" + compress_ais({"01": product.gtin, "21": second})
    response = await client.post("/v1/scans", json={"url": url, "device_id": "dev-compressed"})
    assert response.status_code == 200, response.text
    assert response.json()["verdict"] == "genuine"


@pytest.mark.parametrize(
    "path",
    [
        "/01/09506000134353/21/ABC",  # check digit
        "/01/09506000134352/21/A/10/B",  # qualifier order
        "/01/09506000134352/99/A",  # not a qualifier
        "/01/09506000134352/21/A?17=261331",  # impossible date
        "/01/09506000134352/21/A?9999=1",  # unknown AI
        "/01/09506000134352/21/A?91=x%00y",  # NUL: refused for the query parameter it is in
    ],
)
async def test_malformed_link_is_400_problem(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path, headers=JSON)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == ("91" if "%00" in path else "path")
    assert response.headers["access-control-allow-origin"] == "*"


async def test_unknown_paths_stay_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/no/such/page", headers=JSON)).status_code == 404


async def test_head_options_and_non_verification_requests_never_scan(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    _, product, _, roll = await scannable(app)
    [code] = codes_of(app, roll, product.gtin, [5])
    path = f"/01/{product.gtin}/21/{code}"
    head = await client.head(path)
    assert head.status_code == 200
    assert head.content == b""
    assert "linkset" in head.headers["link"]
    preflight = await client.options(
        path, headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"}
    )
    assert preflight.status_code == 204
    assert "GET" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["access-control-allow-origin"] == "*"
    for query in ("linkType=linkset", "linkType=all", "linkType=gs1:recallStatus"):
        assert (await client.get(f"{path}?{query}", headers=JSON)).status_code == 200
    accept = {"Accept": "application/linkset+json"}
    assert (await client.get(path, headers=accept)).status_code == 200
    epcis = await client.get(f"{path}?linkType=gs1:epcis")
    assert epcis.status_code == 307
    assert epcis.headers["location"].startswith("https://id.example.test/v1/admin/epcis/codes")
    assert await scan_count(app) == 0
    # the code is still unscanned: the first consumer verification is genuine
    first = await client.get(f"{path}?linkType=gs1:verificationService", headers=JSON)
    by_name = await client.get(f"{path}?linkType=gs1:defaultLink", headers=JSON)
    assert by_name.json()["verdict"] == "already_scanned"  # the default, named: a verification
    assert await scan_count(app) == 2
    assert first.json()["verdict"] == "genuine"


async def test_linkset_validates_against_rfc9264(app: Litestar, client: httpx.AsyncClient) -> None:
    _, product, _, roll = await scannable(app)
    [code] = codes_of(app, roll, product.gtin, [6])
    response = await client.get(f"/01/{product.gtin}/21/{code}?linkType=linkset")
    assert response.headers["content-type"].startswith("application/linkset+json")
    document = response.json()
    jsonschema.validate(document, LINKSET_SCHEMA)
    [context] = document["linkset"]
    assert context["anchor"] == f"https://id.example.test/01/{product.gtin}/21/{code}"
    assert context[f"{VOC}defaultLink"] == context[f"{VOC}verificationService"]
    for rel in ("recallStatus", "epcis", "loyaltyProgram"):
        assert f"{VOC}{rel}" in context


@pytest.mark.parametrize("link_type", ["gs1:noSuchType", "pip", "https://example.org/x"])
async def test_unknown_link_type_is_404(
    app: Litestar, client: httpx.AsyncClient, link_type: str
) -> None:
    _, product, _, roll = await scannable(app)
    [code] = codes_of(app, roll, product.gtin, [7])
    response = await client.get(f"/01/{product.gtin}/21/{code}?linkType={link_type}")
    assert response.status_code == 404
    assert response.json()["field"] == "linkType"
    assert await scan_count(app) == 0


async def test_known_link_type_without_a_link_is_404(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    _, product, _, roll = await scannable(app)
    [code] = codes_of(app, roll, product.gtin, [8])
    response = await client.get(f"/01/{product.gtin}/21/{code}?linkType=gs1:pip")
    assert response.status_code == 404
    assert response.json()["code"] == "link_not_found"


async def test_product_and_batch_paths_answer_without_a_scan(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    _, product, batch, _ = await scannable(app)
    for path in (f"/01/{product.gtin}", f"/01/{product.gtin}/10/{batch.lot}"):
        response = await client.get(path)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/linkset+json")
    assert await scan_count(app) == 0


async def test_recall_status_link(app: Litestar, client: httpx.AsyncClient) -> None:
    brand, product, batch, roll = await scannable(app)
    _, admin = await brand_admin(app, client, brand)
    [code] = codes_of(app, roll, product.gtin, [9])
    path = f"/01/{product.gtin}/21/{code}?linkType=gs1:recallStatus"
    assert (await client.get(path)).json()["recalled"] is False
    recall = await create_recall(client, admin, [{"kind": "batch", "batch_id": str(batch.id)}])
    await activate_recall(client, admin, recall["id"])
    body = (await client.get(path)).json()
    assert body["recalled"] is True
    assert body["recall"]["severity"] == "high"
    assert await scan_count(app) == 0


async def test_resolver_probes_never_touch_loyalty(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    """A GS1 checker's HEAD, linkset and link-type requests leave the code claimable by the
    consumer who verifies it first, and give nobody a claim."""
    setup = await setup_loyalty(app, client)
    url = setup.url(0)
    path = url.removeprefix("https://id.example.test")
    probe = {"Cookie": "sgd=checker-device-1"}
    await client.head(path, headers=probe)
    for query in ("linkType=linkset", "linkType=gs1:recallStatus", "linkType=gs1:loyaltyProgram"):
        await client.get(f"{path}?{query}", headers=probe)
    checker = await consumer(app)
    refused = await claim(client, checker, url, "checker-device-1")
    assert (refused.status_code, refused.json()["code"]) == (409, "not_scanned")
    assert (await scan(client, url, "phone-a"))["verdict"] == "genuine"
    alice = await consumer(app)
    assert (await claim(client, alice, url, "phone-a")).status_code == 201
