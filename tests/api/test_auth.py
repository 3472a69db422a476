"""Login, tokens and user management through the admin API."""

from __future__ import annotations

import uuid

import httpx
import jwt
import pytest
from litestar import Litestar

from kernel.auth import ISSUER, TokenPurpose, encode_token
from tests.factories.tenancy import (
    DEFAULT_PASSWORD,
    brand_admin,
    brand_viewer,
    login,
    make_brand,
    make_user,
    platform_admin,
)

LOGIN = "/v1/admin/auth/login"
ME = "/v1/admin/auth/me"
USERS = "/v1/admin/users"


def _assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, object] = response.json()
    assert body["code"] == code, body
    return body


async def test_login_returns_a_bearer_token_and_me_reads_it(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    brand = await make_brand(app)
    user = await make_user(app, role="brand_admin", brand=brand, username="Alice.Admin")
    response = await client.post(
        LOGIN, json={"username": "alice.admin", "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == app.state.settings.auth.jwt_access_ttl_s
    me = await client.get(ME, headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json() == {
        "user_id": str(user.id),
        "username": "alice.admin",
        "role": "brand_admin",
        "brand_id": str(brand.id),
    }
    listed = await client.get(
        f"{USERS}/{user.id}", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert listed.json()["last_login_at"] is not None


async def test_bad_credentials_all_look_the_same(app: Litestar, client: httpx.AsyncClient) -> None:
    brand = await make_brand(app)
    user = await make_user(app, role="brand_viewer", brand=brand)
    disabled = await make_user(app, role="brand_viewer", brand=brand)
    headers = await platform_admin(app, client)
    assert (await client.post(f"{USERS}/{disabled.id}/disable", headers=headers)).status_code == 200
    attempts = [
        {"username": user.username, "password": "wrong password here"},
        {"username": "nobody-at-all", "password": DEFAULT_PASSWORD},
        {"username": disabled.username, "password": DEFAULT_PASSWORD},
    ]
    details = set()
    for attempt in attempts:
        body = _assert_problem(await client.post(LOGIN, json=attempt), 401, "invalid_credentials")
        details.add(body["detail"])
    assert len(details) == 1


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(
            lambda secret, sub: encode_token(
                secret, subject=sub, purpose=TokenPurpose.ADMIN, ttl_s=-60, claims={"role": "x"}
            ),
            id="expired",
        ),
        pytest.param(
            lambda secret, sub: encode_token(
                secret,
                subject=sub,
                purpose=TokenPurpose.CONSUMER,
                ttl_s=60,
                claims={"role": "platform_admin"},
            ),
            id="wrong-audience",
        ),
        pytest.param(
            lambda secret, sub: encode_token(
                b"another secret of enough length!!",
                subject=sub,
                purpose=TokenPurpose.ADMIN,
                ttl_s=60,
                claims={"role": "platform_admin"},
            ),
            id="wrong-key",
        ),
        pytest.param(
            lambda secret, sub: jwt.encode(
                {
                    "sub": sub,
                    "iss": ISSUER,
                    "aud": TokenPurpose.ADMIN.audience,
                    "role": "platform_admin",
                    "iat": 1_700_000_000,
                    "exp": 4_000_000_000,
                },
                None,
                algorithm="none",
            ),
            id="alg-none",
        ),
    ],
)
async def test_bad_tokens_are_rejected(
    app: Litestar, client: httpx.AsyncClient, make_token: object
) -> None:
    token = make_token(app.state.settings.auth.jwt_secret, str(uuid.uuid4()))  # type: ignore[operator]
    response = await client.get(ME, headers={"Authorization": f"Bearer {token}"})
    body = _assert_problem(response, 401, response.json()["code"])
    assert body["code"] in {"token_expired", "invalid_token"}
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_missing_token_is_401(client: httpx.AsyncClient) -> None:
    _assert_problem(await client.get("/v1/admin/products"), 401, "missing_token")


async def test_platform_admin_creates_users_and_usernames_are_unique(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    brand = await make_brand(app)
    headers = await platform_admin(app, client)
    body = {
        "username": "ops-viewer",
        "password": "a long enough password",
        "role": "brand_viewer",
        "brand_id": str(brand.id),
    }
    created = await client.post(USERS, json=body, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["brand_id"] == str(brand.id)
    again = await client.post(USERS, json={**body, "username": "OPS-viewer"}, headers=headers)
    assert _assert_problem(again, 409, "username_taken")["field"] == "username"
    short = await client.post(
        USERS, json={**body, "username": "x-short", "password": "short"}, headers=headers
    )
    assert _assert_problem(short, 422, "weak_password")["field"] == "password"
    no_brand = await client.post(
        USERS, json={**body, "username": "x-nobrand", "brand_id": None}, headers=headers
    )
    assert _assert_problem(no_brand, 422, "brand_required")["field"] == "brand_id"
    await login(client, "ops-viewer", "a long enough password")


async def test_brand_admin_manages_only_its_own_brand_users(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    brand_a, admin_a = await brand_admin(app, client)
    brand_b = await make_brand(app)
    user_b = await make_user(app, role="brand_viewer", brand=brand_b)
    new = {"username": "a-viewer", "password": "a long enough password", "role": "brand_viewer"}
    created = await client.post(USERS, json=new, headers=admin_a)
    assert created.status_code == 201, created.text
    assert created.json()["brand_id"] == str(brand_a.id)
    escalate = await client.post(
        USERS, json={**new, "username": "a-root", "role": "platform_admin"}, headers=admin_a
    )
    assert _assert_problem(escalate, 403, "role_not_allowed")["field"] == "role"
    other = await client.post(
        USERS, json={**new, "username": "a-other", "brand_id": str(brand_b.id)}, headers=admin_a
    )
    _assert_problem(other, 404, "brand_not_found")
    hidden = await client.get(f"{USERS}/{user_b.id}", headers=admin_a)
    _assert_problem(hidden, 404, "user_not_found")
    _assert_problem(
        await client.post(f"{USERS}/{user_b.id}/disable", headers=admin_a), 404, "user_not_found"
    )
    listed = (await client.get(USERS, headers=admin_a)).json()
    assert {u["brand_id"] for u in listed["items"]} == {str(brand_a.id)}
    assert listed["total"] == 2
    viewers = (await client.get(USERS, params={"role": "brand_viewer"}, headers=admin_a)).json()
    assert [u["username"] for u in viewers["items"]] == ["a-viewer"]


async def test_viewer_cannot_create_users(app: Litestar, client: httpx.AsyncClient) -> None:
    _, viewer = await brand_viewer(app, client)
    response = await client.post(
        USERS,
        json={"username": "nope", "password": "a long enough password", "role": "brand_viewer"},
        headers=viewer,
    )
    _assert_problem(response, 403, "insufficient_role")


async def test_audit_lists_the_acting_brands_writes(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    brand_a, admin_a = await brand_admin(app, client)
    _, admin_b = await brand_admin(app, client)
    gtin = "4006381333931"
    made = await client.post(
        "/v1/admin/products", json={"gtin": gtin, "name": "Soap"}, headers=admin_a
    )
    assert made.status_code == 201
    await client.post(
        USERS,
        json={"username": "b-user", "password": "a long enough password", "role": "brand_viewer"},
        headers=admin_b,
    )
    entries = (await client.get("/v1/admin/audit", headers=admin_a)).json()
    assert {e["brand_id"] for e in entries["items"]} == {str(brand_a.id)}
    products = (
        await client.get("/v1/admin/audit", params={"target_type": "product"}, headers=admin_a)
    ).json()
    assert [(e["action"], e["target_id"]) for e in products["items"]] == [
        ("product.create", made.json()["id"])
    ]
    platform = await platform_admin(app, client)
    everything = (await client.get("/v1/admin/audit", headers=platform)).json()
    assert everything["total"] > products["total"]
    scoped = (
        await client.get(
            "/v1/admin/audit",
            params={"action": "product.create"},
            headers={**platform, "X-Scanguard-Brand": str(brand_a.id)},
        )
    ).json()
    assert scoped["total"] == 1


async def test_a_disabled_users_token_stops_working_at_once(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    brand, admin = await brand_admin(app, client)
    victim = await make_user(app, role="brand_viewer", brand=brand)
    token = await login(client, victim.username, DEFAULT_PASSWORD)
    assert (await client.get("/v1/admin/auth/me", headers=token)).status_code == 200
    disabled = await client.post(f"{USERS}/{victim.id}/disable", headers=admin)
    assert disabled.status_code == 200
    refused = await client.get("/v1/admin/products", headers=token)
    assert refused.status_code == 401
    assert refused.json()["code"] == "account_disabled"
