"""Distributor identities: staff logins, API keys, the distributor API and its isolation."""

from __future__ import annotations

import uuid

import httpx
from litestar import Litestar
from sqlalchemy import select

from channel_control.distributors.models import DistributorApiKey
from kernel.auth import TokenPurpose, encode_token
from tests.factories.channel import (
    distributor_login,
    make_api_key,
    make_distributor,
    make_distributor_user,
)
from tests.factories.tenancy import DEFAULT_PASSWORD, brand_admin, brand_viewer, make_brand

ADMIN = "/v1/admin/distributors"


async def test_staff_account_and_api_key_both_reach_me(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    brand, headers = await brand_admin(app, client)
    distributor = await make_distributor(app, brand, code="GD-01")

    user = await client.post(
        f"{ADMIN}/{distributor.id}/users",
        json={"username": "gd-clerk", "password": DEFAULT_PASSWORD},
        headers=headers,
    )
    assert user.status_code == 201, user.text
    assert user.json()["distributor_id"] == str(distributor.id)
    listed = (await client.get(f"{ADMIN}/{distributor.id}/users", headers=headers)).json()
    assert [u["username"] for u in listed] == ["gd-clerk"]

    bearer = await distributor_login(client, "gd-clerk")
    me = await client.get("/v1/distributor/me", headers=bearer)
    assert me.status_code == 200, me.text
    assert me.json()["via"] == "user"
    assert me.json()["distributor"]["code"] == "GD-01"
    assert me.json()["brand_id"] == str(brand.id)

    created = await client.post(
        f"{ADMIN}/{distributor.id}/api-keys", json={"name": "WMS dock 3"}, headers=headers
    )
    assert created.status_code == 201, created.text
    secret = created.json()["key"]
    assert secret.startswith(f"sgk_{created.json()['id'].replace('-', '')}_")
    by_key = await client.get("/v1/distributor/me", headers={"X-Api-Key": secret})
    assert by_key.status_code == 200, by_key.text
    assert by_key.json()["via"] == "api_key"
    assert by_key.json()["name"] == "WMS dock 3"
    assert by_key.json()["distributor"]["id"] == str(distributor.id)

    keys = (await client.get(f"{ADMIN}/{distributor.id}/api-keys", headers=headers)).json()
    assert len(keys) == 1
    assert "key" not in keys[0]
    assert keys[0]["last_used_at"] is not None
    async with app.state.session_factory() as session:
        stored = (await session.execute(select(DistributorApiKey))).scalar_one()
    assert secret not in stored.secret_sha256  # only the digest is at rest
    assert len(stored.secret_sha256) == 64


async def test_revoked_or_wrong_keys_are_refused(app: Litestar, client: httpx.AsyncClient) -> None:
    brand, headers = await brand_admin(app, client)
    distributor = await make_distributor(app, brand)
    secret = await make_api_key(app, distributor)
    prefix, key_hex, tail = secret.split("_", 2)
    for wrong in (
        "nonsense",
        f"{prefix}_{key_hex}_{tail[:-1]}x" if not tail.endswith("x") else f"{prefix}_{key_hex}_y",
        f"{prefix}_{'0' * 32}_{tail}",
        f"{prefix}_zz_{tail}",
    ):
        response = await client.get("/v1/distributor/me", headers={"X-Api-Key": wrong})
        assert response.status_code == 401, wrong
        assert response.json()["code"] == "invalid_api_key"
    assert (
        await client.get("/v1/distributor/me", headers={"X-Api-Key": secret})
    ).status_code == 200

    key_id = (await client.get(f"{ADMIN}/{distributor.id}/api-keys", headers=headers)).json()[0]
    revoke = await client.delete(
        f"{ADMIN}/{distributor.id}/api-keys/{key_id['id']}", headers=headers
    )
    assert revoke.status_code == 204
    again = await client.delete(
        f"{ADMIN}/{distributor.id}/api-keys/{key_id['id']}", headers=headers
    )
    assert again.status_code == 204  # idempotent
    assert (
        await client.get("/v1/distributor/me", headers={"X-Api-Key": secret})
    ).status_code == 401


async def test_deactivating_the_distributor_stops_its_credentials(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    brand, headers = await brand_admin(app, client)
    distributor = await make_distributor(app, brand)
    secret = await make_api_key(app, distributor)
    bearer = await distributor_login(client, await make_distributor_user(app, distributor))
    await client.patch(f"{ADMIN}/{distributor.id}", json={"active": False}, headers=headers)
    assert (await client.get("/v1/distributor/me", headers=bearer)).status_code == 401
    assert (
        await client.get("/v1/distributor/me", headers={"X-Api-Key": secret})
    ).status_code == 401


async def test_login_refuses_other_roles_and_wrong_passwords(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    brand, _ = await brand_admin(app, client)
    distributor = await make_distributor(app, brand)
    username = await make_distributor_user(app, distributor)
    wrong = await client.post(
        "/v1/distributor/auth/login", json={"username": username, "password": "nope nope nope"}
    )
    assert wrong.status_code == 401
    from tests.factories.tenancy import make_user

    admin_user = await make_user(app, role="brand_admin", brand=brand)
    as_admin = await client.post(
        "/v1/distributor/auth/login",
        json={"username": admin_user.username, "password": DEFAULT_PASSWORD},
    )
    assert as_admin.status_code == 401
    assert as_admin.json()["code"] == "invalid_credentials"


async def test_distributor_tokens_do_not_open_the_admin_api(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    brand, _ = await brand_admin(app, client)
    distributor = await make_distributor(app, brand)
    bearer = await distributor_login(client, await make_distributor_user(app, distributor))
    assert (await client.get(ADMIN, headers=bearer)).status_code == 401
    assert (await client.get("/v1/admin/brands", headers=bearer)).status_code == 401
    # and an admin token is not a distributor credential
    _, admin_headers = await brand_admin(app, client, brand)
    assert (await client.get("/v1/distributor/me", headers=admin_headers)).status_code == 401
    assert (await client.get("/v1/distributor/me")).status_code == 401


async def test_a_distributor_sees_only_itself_and_its_downstream(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    brand, _ = await brand_admin(app, client)
    other_brand, _ = await brand_admin(app, client)
    national = await make_distributor(app, brand, level="national")
    regional = await make_distributor(app, brand, parent=national)
    retailer = await make_distributor(app, brand, level="retailer", parent=regional)
    sibling = await make_distributor(app, brand, parent=national)
    foreign = await make_distributor(app, other_brand)

    key = {"X-Api-Key": await make_api_key(app, regional)}
    for visible in (regional, retailer):
        response = await client.get(f"/v1/distributor/distributors/{visible.id}", headers=key)
        assert response.status_code == 200, response.text
    for hidden in (national, sibling, foreign):
        response = await client.get(f"/v1/distributor/distributors/{hidden.id}", headers=key)
        assert response.status_code == 404


async def test_admin_side_roles_and_tenancy(app: Litestar, client: httpx.AsyncClient) -> None:
    brand, viewer = await brand_viewer(app, client)
    other_brand, other_admin = await brand_admin(app, client)
    distributor = await make_distributor(app, brand)
    assert (
        await client.get(f"{ADMIN}/{distributor.id}/api-keys", headers=viewer)
    ).status_code == 200
    denied = await client.post(
        f"{ADMIN}/{distributor.id}/api-keys", json={"name": "x"}, headers=viewer
    )
    assert denied.status_code == 403
    denied_user = await client.post(
        f"{ADMIN}/{distributor.id}/users",
        json={"username": "viewer-made", "password": DEFAULT_PASSWORD},
        headers=viewer,
    )
    assert denied_user.status_code == 403
    for method, path, body in (
        ("GET", "api-keys", None),
        ("POST", "api-keys", {"name": "x"}),
        ("GET", "users", None),
        ("POST", "users", {"username": "intruder", "password": DEFAULT_PASSWORD}),
    ):
        response = await client.request(
            method, f"{ADMIN}/{distributor.id}/{path}", json=body, headers=other_admin
        )
        assert response.status_code == 404, (method, path)
    assert other_brand.id != brand.id


async def test_generic_user_api_cannot_make_unbound_distributor_accounts(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    _, headers = await brand_admin(app, client)
    response = await client.post(
        "/v1/admin/users",
        json={"username": "loose-dist", "password": DEFAULT_PASSWORD, "role": "distributor"},
        headers=headers,
    )
    assert response.status_code in (400, 422)


async def test_distributor_accounts_cannot_log_in_to_the_admin_api(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    brand = await make_brand(app)
    distributor = await make_distributor(app, brand)
    username = await make_distributor_user(app, distributor)
    response = await client.post(
        "/v1/admin/auth/login", json={"username": username, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"


async def test_admin_api_refuses_an_admin_audience_token_with_a_distributor_role(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    brand = await make_brand(app)
    token = encode_token(
        app.state.settings.auth.jwt_secret,
        subject=str(uuid.uuid4()),
        purpose=TokenPurpose.ADMIN,
        ttl_s=60,
        claims={"role": "distributor", "brand": str(brand.id), "username": "x"},
    )
    response = await client.get("/v1/admin/rolls", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"
