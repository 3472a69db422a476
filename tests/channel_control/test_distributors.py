"""Distributor admin API: CRUD, territories, hierarchy rules, roles, tenancy, audit."""

from __future__ import annotations

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select

from kernel.audit import AuditEntry
from tests.factories.channel import make_distributor
from tests.factories.tenancy import brand_admin, brand_viewer, platform_admin

BASE = "/v1/admin/distributors"

TERRITORY = {
    "regions": ["CN-GD", "CN-GX"],
    "cities": [{"region": "CN-ZJ", "name": "Hangzhou"}],
    "geofences": [
        {"type": "circle", "lat": 22.54, "lon": 114.06, "radius_m": 20000},
        {"type": "polygon", "points": [[23.0, 113.1], [23.0, 113.5], [23.3, 113.5]]},
    ],
}


async def test_create_get_update_and_list(app: Litestar, client: httpx.AsyncClient) -> None:
    brand, headers = await brand_admin(app, client)
    created = await client.post(
        BASE,
        json={
            "code": "GD-01",
            "name": "Guangdong Trading",
            "level": "national",
            "contact": {"person": "Li", "phone": "+86 20 1234"},
            "territory": TERRITORY,
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["brand_id"] == str(brand.id)
    assert body["territory"]["regions"] == ["CN-GD", "CN-GX"]
    assert body["territory"]["geofences"][1]["points"] == [
        [23.0, 113.1],
        [23.0, 113.5],
        [23.3, 113.5],
    ]
    assert body["contact"] == {"person": "Li", "phone": "+86 20 1234"}
    assert body["active"] is True

    child = await client.post(
        BASE,
        json={"code": "GZ-R1", "name": "Guangzhou Retail", "level": "retailer",
              "parent_id": body["id"]},
        headers=headers,
    )  # fmt: skip
    assert child.status_code == 201, child.text

    fetched = await client.get(f"{BASE}/{body['id']}", headers=headers)
    assert fetched.json() == body

    patched = await client.patch(
        f"{BASE}/{body['id']}",
        json={"name": "GD Trading Co", "territory": {"regions": ["CN"]}, "active": False},
        headers=headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "GD Trading Co"
    assert patched.json()["territory"] == {"regions": ["CN"], "cities": [], "geofences": []}
    assert patched.json()["active"] is False

    listing = (await client.get(BASE, headers=headers)).json()
    assert [d["code"] for d in listing["items"]] == ["GD-01", "GZ-R1"]
    assert listing["total"] == 2

    async with app.state.session_factory() as session:
        actions = (
            (
                await session.execute(
                    select(AuditEntry.action).where(AuditEntry.brand_id == brand.id)
                )
            )
            .scalars()
            .all()
        )
    assert sorted(a for a in actions if a.startswith("distributor.")) == [
        "distributor.create",
        "distributor.create",
        "distributor.update",
    ]


async def test_filters_and_pagination(app: Litestar, client: httpx.AsyncClient) -> None:
    brand, headers = await brand_viewer(app, client)
    national = await make_distributor(app, brand, code="N1", level="national", name="Nation")
    for i in range(5):
        await make_distributor(
            app, brand, code=f"R{i}", level="retailer", parent=national, name=f"Shop {i}"
        )
    await make_distributor(app, brand, code="X9", level="regional", name="Zhejiang West")

    page = (await client.get(BASE, params={"limit": 2, "offset": 1}, headers=headers)).json()
    assert page["total"] == 7
    assert [d["code"] for d in page["items"]] == ["R0", "R1"]

    by_level = (await client.get(BASE, params={"level": "retailer"}, headers=headers)).json()
    assert by_level["total"] == 5
    by_parent = (
        await client.get(BASE, params={"parent_id": str(national.id)}, headers=headers)
    ).json()
    assert by_parent["total"] == 5
    by_text = (await client.get(BASE, params={"q": "zhejiang"}, headers=headers)).json()
    assert [d["code"] for d in by_text["items"]] == ["X9"]
    by_code = (await client.get(BASE, params={"q": "n1"}, headers=headers)).json()
    assert [d["code"] for d in by_code["items"]] == ["N1"]
    percent = (await client.get(BASE, params={"q": "%"}, headers=headers)).json()
    assert percent["total"] == 0  # LIKE wildcards are matched literally

    bad = await client.get(BASE, params={"level": "emperor"}, headers=headers)
    assert bad.status_code == 400


async def test_viewer_reads_but_cannot_write(app: Litestar, client: httpx.AsyncClient) -> None:
    brand, headers = await brand_viewer(app, client)
    distributor = await make_distributor(app, brand)
    assert (await client.get(f"{BASE}/{distributor.id}", headers=headers)).status_code == 200
    created = await client.post(
        BASE, json={"code": "A", "name": "A", "level": "retailer"}, headers=headers
    )
    assert created.status_code == 403
    patched = await client.patch(f"{BASE}/{distributor.id}", json={"name": "x"}, headers=headers)
    assert patched.status_code == 403


async def test_another_brands_distributor_is_not_found(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    _, headers = await brand_admin(app, client)
    other_brand, _ = await brand_admin(app, client)
    foreign = await make_distributor(app, other_brand)
    assert (await client.get(f"{BASE}/{foreign.id}", headers=headers)).status_code == 404
    patched = await client.patch(f"{BASE}/{foreign.id}", json={"name": "x"}, headers=headers)
    assert patched.status_code == 404
    # Nor may it become a parent.
    created = await client.post(
        BASE,
        json={"code": "C", "name": "C", "level": "retailer", "parent_id": str(foreign.id)},
        headers=headers,
    )
    assert created.status_code == 404
    assert created.json()["field"] == "parent_id"
    assert (await client.get(BASE, headers=headers)).json()["total"] == 0


async def test_platform_admin_names_the_brand(app: Litestar, client: httpx.AsyncClient) -> None:
    brand, _ = await brand_admin(app, client)
    headers = await platform_admin(app, client)
    await make_distributor(app, brand)
    assert (await client.get(BASE, headers=headers)).status_code == 400
    listing = await client.get(BASE, headers={**headers, "X-Scanguard-Brand": str(brand.id)})
    assert listing.json()["total"] == 1


async def test_code_is_unique_per_brand(app: Litestar, client: httpx.AsyncClient) -> None:
    brand, headers = await brand_admin(app, client)
    other, _ = await brand_admin(app, client)
    await make_distributor(app, other, code="SAME")  # another brand may use it
    first = await client.post(
        BASE, json={"code": "SAME", "name": "A", "level": "retailer"}, headers=headers
    )
    assert first.status_code == 201
    again = await client.post(
        BASE, json={"code": "SAME", "name": "B", "level": "retailer"}, headers=headers
    )
    assert again.status_code == 409
    assert again.json()["code"] == "distributor_code_taken"
    second = await make_distributor(app, brand, code="OTHER")
    renamed = await client.patch(f"{BASE}/{second.id}", json={"code": "SAME"}, headers=headers)
    assert renamed.status_code == 409


async def test_no_cycles(app: Litestar, client: httpx.AsyncClient) -> None:
    brand, headers = await brand_admin(app, client)
    a = await make_distributor(app, brand, level="national")
    b = await make_distributor(app, brand, parent=a)
    c = await make_distributor(app, brand, level="retailer", parent=b)
    for target, parent in ((a, c), (a, b), (b, b)):
        response = await client.patch(
            f"{BASE}/{target.id}", json={"parent_id": str(parent.id)}, headers=headers
        )
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "parent_cycle"
    moved = await client.patch(f"{BASE}/{c.id}", json={"parent_id": str(a.id)}, headers=headers)
    assert moved.status_code == 200
    detached = await client.patch(f"{BASE}/{c.id}", json={"parent_id": None}, headers=headers)
    assert detached.json()["parent_id"] is None


@pytest.mark.parametrize(
    ("territory", "status", "field"),
    [
        ({"regions": ["cn-gd"]}, 400, "territory.regions.0"),
        ({"regions": ["CHN"]}, 400, "territory.regions.0"),
        ({"cities": [{"region": "CN-ZJ", "name": ""}]}, 400, "territory.cities.0.name"),
        (
            {"geofences": [{"type": "circle", "lat": 91, "lon": 0, "radius_m": 5}]},
            400,
            "territory.geofences.0.lat",
        ),
        (
            {"geofences": [{"type": "polygon", "points": [[0, 0], [1, 1]]}]},
            400,
            "territory.geofences.0.points",
        ),
        (
            {"geofences": [{"type": "polygon", "points": [[0, 0], [1, 1], [0, 0]]}]},
            422,
            "territory.geofences.0.points",
        ),
        (
            {"geofences": [{"type": "polygon", "points": [[0, -179], [1, 179], [2, 0]]}]},
            422,
            "territory.geofences.0.points",
        ),
        ({"geofences": [{"type": "square"}]}, 400, "territory.geofences.0.type"),
    ],
)
async def test_invalid_territories(
    app: Litestar,
    client: httpx.AsyncClient,
    territory: dict[str, object],
    status: int,
    field: str,
) -> None:
    _, headers = await brand_admin(app, client)
    response = await client.post(
        BASE,
        json={"code": "T", "name": "T", "level": "regional", "territory": territory},
        headers=headers,
    )
    assert response.status_code == status, response.text
    # (the shape layer may spell list indexes as [0]; compare the dotted form)
    reported = str(response.json()["field"]).replace("[", ".").replace("]", "")
    assert reported == field, response.json()


async def test_requires_a_token(client: httpx.AsyncClient) -> None:
    assert (await client.get(BASE)).status_code == 401
