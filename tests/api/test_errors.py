"""Every bad request is a 4xx problem+json with a stable code (and the field), never a 500."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar

from tests.factories.tenancy import brand_admin, make_product

PRODUCTS = "/v1/admin/products"


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"]
    return body


async def _post_raw(
    client: httpx.AsyncClient, headers: dict[str, str], raw: bytes
) -> httpx.Response:
    return await client.post(
        PRODUCTS, content=raw, headers={**headers, "content-type": "application/json"}
    )


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"gtin": 4006381333931, "name": "x"}, "invalid_body", "gtin"),
        ({"gtin": "4006381333931", "name": "x" * 201}, "invalid_body", "name"),
        ({"gtin": "4006381333931", "name": "x", "pin_length": 13}, "invalid_body", "pin_length"),
        (
            {"gtin": "4006381333931", "name": "x", "image_url": "h" * 501},
            "invalid_body",
            "image_url",
        ),
        ({"gtin": "4006381333932", "name": "x"}, "invalid_gtin", "gtin"),
        ({"gtin": "40063813339", "name": "x"}, "invalid_gtin", "gtin"),
        (
            {"gtin": "4006381333931", "name": "x", "image_url": "javascript:x"},
            "invalid_url",
            "image_url",
        ),
    ],
)
async def test_bad_product_bodies(
    app: Litestar, client: httpx.AsyncClient, body: dict[str, Any], code: str, field: str
) -> None:
    _, admin = await brand_admin(app, client)
    response = await client.post(PRODUCTS, json=body, headers=admin)
    got = problem(response, 400 if code.startswith("invalid_body") else 422)
    assert (got["code"], got["field"]) == (code, field)


async def test_gtin_check_digit_message_names_the_expected_digit(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    _, admin = await brand_admin(app, client)
    response = await client.post(
        PRODUCTS, json={"gtin": "4006381333932", "name": "x"}, headers=admin
    )
    assert "expected 1" in problem(response, 422)["detail"]


async def test_duplicate_gtin(app: Litestar, client: httpx.AsyncClient) -> None:
    brand, admin = await brand_admin(app, client)
    product = await make_product(app, brand)
    got = problem(
        await client.post(PRODUCTS, json={"gtin": product.gtin, "name": "x"}, headers=admin), 409
    )
    assert (got["code"], got["field"]) == ("gtin_taken", "gtin")


async def test_unknown_field_is_400(app: Litestar, client: httpx.AsyncClient) -> None:
    _, admin = await brand_admin(app, client)
    response = await client.post(
        PRODUCTS, json={"gtin": "4006381333931", "name": "x", "colour": "red"}, headers=admin
    )
    got = problem(response, 400)
    assert got["code"] == "unknown_field"
    assert "colour" in got["detail"]


async def test_malformed_json_is_400(app: Litestar, client: httpx.AsyncClient) -> None:
    _, admin = await brand_admin(app, client)
    for raw in (b'{"gtin": ', b"not json", b'{"gtin": "1",}'):
        problem(await _post_raw(client, admin, raw), 400)


async def test_malformed_json_names_code_and_field(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    _, admin = await brand_admin(app, client)
    got = problem(await _post_raw(client, admin, b'{"gtin": '), 400)
    assert got["code"] == "malformed_json"
    assert got["field"] == "body"


async def test_unknown_and_missing_fields_are_named(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    _, admin = await brand_admin(app, client)
    unknown = await client.post(
        PRODUCTS, json={"gtin": "4006381333931", "name": "x", "colour": "red"}, headers=admin
    )
    assert problem(unknown, 400)["field"] == "colour"
    missing = await client.post(PRODUCTS, json={"name": "x"}, headers=admin)
    assert problem(missing, 400)["field"] == "gtin"


async def test_bad_path_and_query_parameters(app: Litestar, client: httpx.AsyncClient) -> None:
    _, admin = await brand_admin(app, client)
    assert (await client.get(f"{PRODUCTS}/not-a-uuid", headers=admin)).status_code in (400, 404)
    got = problem(await client.get(PRODUCTS, params={"limit": "many"}, headers=admin), 400)
    assert got["field"] == "limit"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=10,
)
product_like = st.fixed_dictionaries(
    {},
    optional={
        "gtin": st.one_of(st.text(max_size=16), st.integers(), st.just("4006381333931")),
        "name": st.one_of(st.text(max_size=210), st.integers()),
        "description": st.one_of(st.none(), st.text(max_size=30)),
        "image_url": st.one_of(st.none(), st.text(max_size=40), st.just("https://x.test/a")),
        "pin_length": st.one_of(st.none(), st.integers(-5, 20), st.text(max_size=3)),
    },
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(body=st.one_of(json_values, product_like))
async def test_random_bodies_never_500(app: Litestar, client: httpx.AsyncClient, body: Any) -> None:
    # one admin per example is slow (argon2): log in once per app and reuse the headers
    headers = getattr(app.state, "_test_errors_admin", None)
    if headers is None:
        _, headers = await brand_admin(app, client)
        app.state._test_errors_admin = headers
    response = await client.post(PRODUCTS, json=body, headers=headers)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"]
