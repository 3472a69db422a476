"""Consumer identity over HTTP on both backends, against a local WeChat server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta

import httpx
import pytest
from litestar import Litestar

from kernel.db import utcnow
from kernel.settings import Settings
from tests.conftest import running_app
from tests.factories.codes import scan_path
from tests.factories.loyalty import claim, consumer, ledger_sum, scan, setup_loyalty
from tests.support.wechat_server import FakeWeChat


@pytest.fixture
def wx() -> Iterator[FakeWeChat]:
    with FakeWeChat() as server:
        yield server


@pytest.fixture
async def wx_app(
    settings: Settings, wx: FakeWeChat
) -> AsyncIterator[tuple[Litestar, httpx.AsyncClient]]:
    configured = settings.with_overrides(
        wechat={
            "api_base_url": wx.base_url,
            "app_id": wx.app_id,
            "app_secret": wx.app_secret,
            "timeout_s": 0.5,
        }
    )
    async with running_app(configured) as pair:
        yield pair


async def test_wx_login_issues_a_consumer_token(
    wx_app: tuple[Litestar, httpx.AsyncClient], wx: FakeWeChat
) -> None:
    _, client = wx_app
    response = await client.post("/v1/loyalty/wx-login", json={"code": wx.login_code("o-alice")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 7200
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    me = (await client.get("/v1/loyalty/me", headers=headers)).json()
    assert me == {"consumer_id": body["consumer_id"], "wechat_bound": True, "accounts": []}
    # The same WeChat user logging in again is the same consumer.
    again = await client.post("/v1/loyalty/wx-login", json={"code": wx.login_code("o-alice")})
    assert again.json()["consumer_id"] == body["consumer_id"]
    # A consumer token is no admin token, and vice versa.
    admin_view = await client.get("/v1/admin/loyalty/campaigns", headers=headers)
    assert admin_view.status_code == 401


@pytest.mark.parametrize(
    ("errcode", "status", "code"),
    [
        (40029, 400, "wechat_rejected"),
        (40163, 400, "wechat_rejected"),
        (45011, 429, "wechat_rate_limited"),
        (-1, 502, "wechat_unavailable"),
    ],
)
async def test_wx_login_errors_are_clear_problems(
    wx_app: tuple[Litestar, httpx.AsyncClient],
    wx: FakeWeChat,
    errcode: int,
    status: int,
    code: str,
) -> None:
    _, client = wx_app
    response = await client.post("/v1/loyalty/wx-login", json={"code": wx.fail_code("x", errcode)})
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code
    if status == 400:
        assert response.json()["errcode"] == errcode


async def test_wx_login_timeout_and_bad_input(
    wx_app: tuple[Litestar, httpx.AsyncClient], wx: FakeWeChat
) -> None:
    _, client = wx_app
    wx.slow_s = 1.5
    slow = await client.post("/v1/loyalty/wx-login", json={"code": wx.login_code("o-slow")})
    assert (slow.status_code, slow.json()["code"]) == (504, "wechat_timeout")
    wx.slow_s = 0
    empty = await client.post("/v1/loyalty/wx-login", json={"code": ""})
    assert empty.status_code == 400
    unknown = await client.post("/v1/loyalty/wx-login", json={"code": "c", "extra": 1})
    assert unknown.status_code == 400


async def test_web_session_cookie_identifies_an_anonymous_consumer(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    opened = await client.post("/v1/loyalty/web/session")
    assert opened.status_code == 200
    client.cookies.clear()  # send cookies explicitly, as a browser would
    device, signed = opened.cookies["sgd"], opened.cookies["sgc"]
    consumer_id = opened.json()["consumer_id"]
    cookie = {"Cookie": f"sgd={device}; sgc={signed}"}
    me = (await client.get("/v1/loyalty/me", headers=cookie)).json()
    assert me["consumer_id"] == consumer_id
    assert me["wechat_bound"] is False
    # Same device again: same consumer.
    again = await client.post("/v1/loyalty/web/session", headers={"Cookie": f"sgd={device}"})
    assert again.json()["consumer_id"] == consumer_id
    client.cookies.clear()
    forged = signed[:-2] + ("AA" if not signed.endswith("AA") else "BB")
    bad = await client.get("/v1/loyalty/me", headers={"Cookie": f"sgc={forged}"})
    assert bad.status_code == 401
    assert (await client.get("/v1/loyalty/me")).status_code == 401


async def _web_consumer_with_points(
    app: Litestar, client: httpx.AsyncClient, points: int
) -> tuple[dict[str, str], str, uuid.UUID]:
    """A browser that scanned (GET, sgd cookie) and claimed one code of a new brand."""
    setup = await setup_loyalty(app, client, points=points)
    opened = await client.post("/v1/loyalty/web/session")
    client.cookies.clear()  # send cookies explicitly, as a browser would
    device, signed = opened.cookies["sgd"], opened.cookies["sgc"]
    cookie = {"Cookie": f"sgd={device}; sgc={signed}"}
    page = await client.get(
        scan_path(setup.product.gtin, setup.codes[0]),
        headers={"Accept": "application/json", "Cookie": f"sgd={device}"},
    )
    assert page.json()["verdict"] == "genuine"
    claimed = await client.post("/v1/loyalty/claims", json={"url": setup.url(0)}, headers=cookie)
    assert claimed.status_code == 201, claimed.text
    return cookie, opened.json()["consumer_id"], setup.brand.id


async def test_binding_merges_points_into_the_wechat_consumer_exactly_once(
    wx_app: tuple[Litestar, httpx.AsyncClient], wx: FakeWeChat
) -> None:
    app, client = wx_app
    cookie, anon_id, brand_id = await _web_consumer_with_points(app, client, 15)
    # The WeChat user already has points at the same brand (claimed in the mini-program).
    wechat_user = await consumer(app, openid="o-carol")
    codes = [wx.login_code("o-carol") for _ in range(3)]
    binds = await asyncio.gather(
        *(
            client.post("/v1/loyalty/me/bind-wechat", json={"code": c}, headers=cookie)
            for c in codes
        )
    )
    assert {b.status_code for b in binds} == {200}, [b.text for b in binds]
    assert {b.json()["consumer_id"] for b in binds} == {str(wechat_user.id)}
    me = (await client.get("/v1/loyalty/me", headers=wechat_user.headers)).json()
    assert me["accounts"] == [{"brand_id": str(brand_id), "balance": 15, "pending": 0}]
    assert await ledger_sum(app, wechat_user.id, brand_id) == 15
    # The old browser cookie now acts as the WeChat consumer.
    via_cookie = (await client.get("/v1/loyalty/me", headers=cookie)).json()
    assert via_cookie["consumer_id"] == str(wechat_user.id)
    ledger = (await client.get("/v1/loyalty/me/ledger", headers=wechat_user.headers)).json()
    moved = [e for e in ledger["items"] if e["reason"] == "merge_in"]
    assert len(moved) == 1
    assert moved[0]["delta"] == 15
    # Lots move with their own expiry date (365 days after the original claim).
    expires = datetime.fromisoformat(moved[0]["expires_at"].replace("Z", "+00:00"))
    assert abs((utcnow() + timedelta(days=365) - expires).total_seconds()) < 120
    claims = (await client.get("/v1/loyalty/me/claims", headers=wechat_user.headers)).json()
    assert claims["total"] == 1
    assert anon_id != str(wechat_user.id)


async def test_binding_a_new_openid_upgrades_in_place(
    wx_app: tuple[Litestar, httpx.AsyncClient], wx: FakeWeChat
) -> None:
    app, client = wx_app
    cookie, anon_id, _brand_id = await _web_consumer_with_points(app, client, 4)
    bound = await client.post(
        "/v1/loyalty/me/bind-wechat", json={"code": wx.login_code("o-new")}, headers=cookie
    )
    assert bound.status_code == 200, bound.text
    assert bound.json()["consumer_id"] == anon_id
    token = {"Authorization": f"Bearer {bound.json()['access_token']}"}
    me = (await client.get("/v1/loyalty/me", headers=token)).json()
    assert me["wechat_bound"] is True
    assert me["accounts"][0]["balance"] == 4
    other = await client.post(
        "/v1/loyalty/me/bind-wechat", json={"code": wx.login_code("o-other")}, headers=token
    )
    assert (other.status_code, other.json()["code"]) == (409, "already_bound")


async def test_a_consumer_sees_only_their_own_data(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    setup = await setup_loyalty(app, client)
    alice, bob = await consumer(app), await consumer(app)
    await scan(client, setup.url(0), "phone-a")
    assert (await claim(client, alice, setup.url(0), "phone-a")).status_code == 201
    for path in ("/v1/loyalty/me/claims", "/v1/loyalty/me/ledger", "/v1/loyalty/me/prizes"):
        mine = (await client.get(path, headers=alice.headers)).json()
        theirs = (await client.get(path, headers=bob.headers)).json()
        assert theirs["total"] == 0, path
        assert mine["total"] >= (0 if path.endswith("prizes") else 1), path
    assert (await client.get("/v1/loyalty/me", headers=bob.headers)).json()["accounts"] == []
