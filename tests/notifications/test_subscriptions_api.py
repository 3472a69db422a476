"""Webhook subscription admin API: CRUD, one-time secret, roles, bad input naming the field."""

from __future__ import annotations

from ipaddress import ip_network
from typing import Any

import pytest

from admin_api.notifications.services import validate_webhook_url
from kernel.addresses import AddressPolicy
from kernel.errors import InvalidInput
from kernel.settings import Settings
from tests.conftest import running_app
from tests.factories.channel import make_distributor
from tests.factories.notifications import create_subscription
from tests.factories.tenancy import brand_admin, brand_viewer, platform_admin

PATH = "/v1/admin/webhooks/subscriptions"


async def test_create_list_update_delete(settings: Settings) -> None:
    async with running_app(settings) as (app, client):
        brand, admin = await brand_admin(app, client)
        created = await create_subscription(
            client,
            admin,
            "https://hooks.example.com/scanguard",
            ["recall.*", "counterfeit.spike", "recall.*"],
            description="ERP",
        )
        assert created["secret"].startswith("whsec_")
        assert created["event_types"] == ["recall.*", "counterfeit.spike"]  # de-duplicated
        assert created["active"] is True
        assert created["brand_id"] == str(brand.id)

        listed = (await client.get(PATH, headers=admin)).json()
        assert listed["total"] == 1
        assert "secret" not in listed["items"][0]
        one = (await client.get(f"{PATH}/{created['id']}", headers=admin)).json()
        assert "secret" not in one
        assert one["description"] == "ERP"

        patched = await client.patch(
            f"{PATH}/{created['id']}",
            json={"active": False, "event_types": ["points.held"]},
            headers=admin,
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["active"] is False
        assert patched.json()["event_types"] == ["points.held"]
        assert patched.json()["url"] == "https://hooks.example.com/scanguard"
        inactive = (await client.get(PATH, headers=admin, params={"active": "false"})).json()
        assert inactive["total"] == 1
        assert (await client.get(PATH, headers=admin, params={"active": "true"})).json()[
            "total"
        ] == 0

        viewer_brand, viewer = await brand_viewer(app, client, brand)
        assert viewer_brand.id == brand.id
        assert (await client.get(PATH, headers=viewer)).status_code == 200
        denied = await client.post(
            PATH, json={"url": "https://x.example.com", "event_types": ["*"]}, headers=viewer
        )
        assert denied.status_code == 403

        # A platform admin acts on the brand named in the header.
        platform = await platform_admin(app, client)
        seen = await client.get(PATH, headers={**platform, "X-Scanguard-Brand": str(brand.id)})
        assert seen.json()["total"] == 1
        no_brand = await client.get(PATH, headers=platform)
        assert no_brand.status_code == 400
        assert no_brand.json()["field"] == "X-Scanguard-Brand"

        deleted = await client.delete(f"{PATH}/{created['id']}", headers=admin)
        assert deleted.status_code == 204
        assert (await client.get(f"{PATH}/{created['id']}", headers=admin)).status_code == 404
        audit = (await client.get("/v1/admin/audit", headers=admin)).json()["items"]
        actions = {a["action"] for a in audit}
        assert {
            "webhook.subscription.create",
            "webhook.subscription.update",
            "webhook.subscription.delete",
        } <= actions


BAD_BODIES: list[tuple[dict[str, Any], int, str, str]] = [
    ({"url": "ftp://files.example.com/x", "event_types": ["*"]}, 422, "url", "invalid_url"),
    ({"url": "http://hooks.example.com/x", "event_types": ["*"]}, 422, "url", "insecure_url"),
    ({"url": "https://user:pw@hooks.example.com", "event_types": ["*"]}, 422, "url", "invalid_url"),
    ({"url": "not a url", "event_types": ["*"]}, 422, "url", "invalid_url"),
    ({"url": "https://hooks.example.com:99999/", "event_types": ["*"]}, 422, "url", "invalid_url"),
    ({"url": "https://hooks.example.com", "event_types": []}, 400, "event_types", "invalid_body"),
    (
        {"url": "https://hooks.example.com", "event_types": ["recall.*", "Recall!"]},
        422,
        "event_types.1",
        "invalid_event_types",
    ),
    (
        {"url": "https://hooks.example.com", "event_types": ["recall.*.x"]},
        422,
        "event_types.0",
        "invalid_event_types",
    ),
    ({"event_types": ["*"]}, 400, "url", "invalid_body"),
    (
        {"url": "https://hooks.example.com", "event_types": ["*"], "colour": 1},
        400,
        "colour",
        "unknown_field",
    ),
    (
        {"url": "https://hooks.example.com", "event_types": "recall.*"},
        400,
        "event_types",
        "invalid_body",
    ),
]


async def test_bad_input_is_a_4xx_naming_the_field(settings: Settings) -> None:
    async with running_app(settings) as (app, client):
        _, admin = await brand_admin(app, client)
        for body, status, field, code in BAD_BODIES:
            response = await client.post(PATH, json=body, headers=admin)
            assert response.status_code == status, (body, response.text)
            assert response.json()["field"] == field, body
            assert response.json()["code"] == code, body
        assert (await client.get(PATH, headers=admin)).json()["total"] == 0


async def test_distributor_endpoint_must_be_the_brands_own(settings: Settings) -> None:
    async with running_app(settings) as (app, client):
        brand, admin = await brand_admin(app, client)
        other, _ = await brand_admin(app, client)
        foreign = await make_distributor(app, other)
        own = await make_distributor(app, brand)
        response = await client.post(
            PATH,
            json={
                "url": "https://d.example.com",
                "event_types": ["*"],
                "distributor_id": str(foreign.id),
            },
            headers=admin,
        )
        assert response.status_code == 404
        assert response.json()["field"] == "distributor_id"
        ok = await create_subscription(
            client, admin, "https://d.example.com", ["recall.*"], distributor_id=str(own.id)
        )
        assert ok["distributor_id"] == str(own.id)
        bad_patch = await client.patch(
            f"{PATH}/{ok['id']}", json={"url": "http://d.example.com"}, headers=admin
        )
        assert bad_patch.status_code == 422
        assert bad_patch.json()["field"] == "url"


async def test_bad_delivery_filters_are_400(settings: Settings) -> None:
    async with running_app(settings) as (app, client):
        _, admin = await brand_admin(app, client)
        for params, field in (
            ({"status": "lost"}, "status"),
            ({"subscription_id": "nope"}, "subscription_id"),
            ({"limit": "0"}, "limit"),
            ({"channel": "fax"}, "channel"),
        ):
            response = await client.get(
                "/v1/admin/webhooks/deliveries", params=params, headers=admin
            )
            assert response.status_code == 400, (params, response.text)
            assert response.json()["field"] == field


ALLOW_RECEIVERS = AddressPolicy((ip_network("127.0.0.1/32"),))


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://hooks.example.com/a", True),
        ("https://93.184.215.14:8443/hook", True),
        ("https://[2606:4700::1111]/hook", True),
        ("http://127.0.0.1:8080/hook", True),  # allow-listed (the test receivers)
        ("https://127.0.0.1/hook", True),
        ("http://hooks.example.com/a", False),  # http only to an allow-listed address
        ("http://93.184.215.14/a", False),
        ("https://127.0.0.2/hook", False),  # loopback outside the allow-list
        ("http://[::1]:9000/hook", False),
        ("https://localhost/hook", False),
        ("http://localhost/hook", False),
        ("https://metadata.google.internal/computeMetadata/v1/", False),
        ("https://printer.local/", False),
        ("https://intranet/", False),  # single label: a search-domain name
        ("https://10.1.2.3/hook", False),
        ("https://172.16.0.1/hook", False),
        ("https://192.168.0.10/hook", False),
        ("https://100.64.0.1/hook", False),
        ("https://100.100.100.200/latest/meta-data", False),  # Alibaba metadata (CGNAT)
        ("https://169.254.169.254/latest/meta-data", False),
        ("https://0.0.0.0/hook", False),
        ("https://224.0.0.1/hook", False),
        ("https://240.0.0.1/hook", False),
        ("https://[::ffff:127.0.0.1]/hook", False),
        ("https://[::ffff:8.8.8.8]/hook", False),  # every IPv4-wrapping form is refused
        ("https://[2002:a9fe:a9fe::1]/hook", False),  # 6to4 of 169.254.169.254
        ("https://[64:ff9b::a9fe:a9fe]/hook", False),  # NAT64 of 169.254.169.254
        ("https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook", False),  # Teredo
        ("https://[fd00::1]/hook", False),
        ("https://[fe80::1]/hook", False),
        ("https://2130706434/hook", False),  # 127.0.0.2 spelled as one number
        ("https://127.2/hook", False),
        ("https://0x7f.0.0.2/hook", False),
        ("https://2852039166/latest", False),  # 169.254.169.254 as one number
        ("https://0251.0376.0251.0376/latest", False),  # 169.254.169.254 in octal
        ("https://hooks.example.com/a#frag", False),
        ("https://user:pw@hooks.example.com/a", False),
    ],
)
def test_url_policy(url: str, ok: bool) -> None:
    if ok:
        assert validate_webhook_url(url, addresses=ALLOW_RECEIVERS) == url
    else:
        with pytest.raises(InvalidInput) as caught:
            validate_webhook_url(url, addresses=ALLOW_RECEIVERS)
        assert caught.value.field == "url"


def test_without_an_allow_list_the_receivers_address_is_refused_too() -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_webhook_url("http://127.0.0.1:8080/hook", addresses=AddressPolicy())
    assert caught.value.code == "private_address_url"
    assert "loopback" in str(caught.value)


async def test_the_api_refuses_a_metadata_address_with_a_422_naming_url(settings: Settings) -> None:
    async with running_app(settings) as (app, client):
        _, admin = await brand_admin(app, client)
        response = await client.post(
            PATH,
            json={"url": "https://169.254.169.254/latest/meta-data", "event_types": ["*"]},
            headers=admin,
        )
        assert response.status_code == 422, response.text
        assert response.json()["field"] == "url"
        assert response.json()["code"] == "private_address_url"
