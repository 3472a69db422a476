"""The load-test seeding command and the scenarios' response validators, on both backends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar

from loadtests.scenarios.common import (
    DataSet,
    ValidationError,
    check_admin_code,
    check_distributor_check,
    check_scan_html,
    check_scan_json,
)
from loadtests.seed import CODE_CLASSES, SeedPlan, seed, write_data

PLAN = SeedPlan(products=2, codes=40, repeat=4, void=3, inactive=5, forged=6)


@pytest.fixture
async def data(app: Litestar, tmp_path: Path) -> dict[str, Any]:
    messages: list[str] = []
    seeded = await seed(app.state.runtime, PLAN, progress=messages.append)
    assert any("product 2/2" in m for m in messages)
    return seeded


async def _scan(client: httpx.AsyncClient, gtin: str, code: str, device: str) -> httpx.Response:
    return await client.post(
        "/v1/scans",
        json={"url": f"https://id.example.com/01/{gtin}/21/{code}", "device_id": device},
        headers={"X-Forwarded-For": "113.108.4.5"},
    )


async def test_seed_writes_every_code_class(data: dict[str, Any], tmp_path: Path) -> None:
    codes = data["codes"]
    assert set(codes) == set(CODE_CLASSES)
    assert len(codes["fresh"]) == PLAN.products * (PLAN.codes - PLAN.repeat - PLAN.void)
    assert len(codes["repeat"]) == PLAN.products * PLAN.repeat
    assert len(codes["void"]) == PLAN.products * PLAN.void
    assert len(codes["inactive"]) == PLAN.inactive
    assert len(codes["forged"]) == PLAN.forged
    every = [tuple(p) for name in CODE_CLASSES for p in codes[name]]
    assert len(every) == len(set(every))  # no code in two classes
    out = tmp_path / "data.json"
    write_data(data, out)
    loaded = DataSet.load(out)
    assert loaded.admin["username"] == data["admin"]["username"]
    assert json.loads(out.read_text())["products"][0]["gtin"] == data["products"][0]["gtin"]


async def test_seeded_codes_get_the_expected_verdicts(
    data: dict[str, Any], client: httpx.AsyncClient
) -> None:
    codes = data["codes"]
    for code_class in ("fresh", "forged", "inactive", "void"):
        gtin, code = codes[code_class][0]
        response = await _scan(client, gtin, code, "device-test-1")
        check_scan_json(code_class, response.status_code, response.json())
    gtin, code = codes["repeat"][0]
    first = await _scan(client, gtin, code, "device-test-1")
    check_scan_json("fresh", first.status_code, first.json())
    again = await _scan(client, gtin, code, "device-test-2")
    check_scan_json("repeat", again.status_code, again.json())
    gtin, code = codes["fresh"][1]
    page = await client.get(f"/01/{gtin}/21/{code}", headers={"Accept": "text/html"})
    assert check_scan_html("fresh", page.status_code, page.text) == "genuine"
    page = await client.get(f"/01/{gtin}/21/{code}", headers={"Accept": "text/html"})
    assert check_scan_html("repeat", page.status_code, page.text) == "already_scanned"


async def test_admin_code_lookup_validator(data: dict[str, Any], client: httpx.AsyncClient) -> None:
    admin = data["admin"]
    login = await client.post(
        "/v1/admin/auth/login",
        json={"username": admin["username"], "password": admin["password"]},
    )
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    for code_class, status in (("repeat", "active"), ("inactive", "inactive"), ("void", "void")):
        gtin, code = data["codes"][code_class][0]
        response = await client.get(f"/v1/admin/codes/{gtin}/{code}", headers=headers)
        assert check_admin_code(response.status_code, response.json(), gtin=gtin, code=code) == (
            status
        )


async def test_seeded_distributors_check_what_they_received(
    data: dict[str, Any], client: httpx.AsyncClient
) -> None:
    distributors = data["distributors"]
    assert [d["region"] for d in distributors] == ["CN-GD", "CN-ZJ", "CN-SH", "CN-BJ"]
    # Two products over four distributors: the first two got one product each.
    shipped = {g: d for d in distributors for g in d["gtins"]}
    assert sorted(shipped) == sorted(p["gtin"] for p in data["products"])
    first, second = distributors[0], distributors[1]
    login = await client.post(
        "/v1/distributor/auth/login",
        json={"username": first["username"], "password": first["password"]},
    )
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}

    async def check(gtin: str, code: str) -> httpx.Response:
        return await client.post(
            "/v1/distributor/checks", json={"code": f"/01/{gtin}/21/{code}"}, headers=headers
        )

    by_gtin = {gtin: code for gtin, code in data["codes"]["repeat"]}
    mine, other = first["gtins"][0], second["gtins"][0]
    response = await check(mine, by_gtin[mine])
    check_distributor_check(response.status_code, response.json(), genuine=True, mine=True)
    response = await check(other, by_gtin[other])
    check_distributor_check(response.status_code, response.json(), genuine=True, mine=False)
    with pytest.raises(ValidationError):
        check_distributor_check(response.status_code, response.json(), genuine=True, mine=True)
    gtin, forged = data["codes"]["forged"][0]
    response = await check(gtin, forged)
    check_distributor_check(response.status_code, response.json(), genuine=False, mine=False)
    listed = await client.get("/v1/distributor/shipments", headers=headers)
    assert [s["document_number"] for s in listed.json()["items"]] == ["LT-1"]


def test_validators_reject_wrong_content() -> None:
    with pytest.raises(ValidationError):
        check_scan_json("fresh", 200, {"verdict": "counterfeit"})
    with pytest.raises(ValidationError):
        check_scan_json("forged", 429, {"verdict": "counterfeit"})
    with pytest.raises(ValidationError):
        check_scan_json("fresh", 200, {"verdict": "genuine"})  # no product facts
    with pytest.raises(ValidationError):
        check_scan_html("void", 200, '<section class="banner genuine">')
    with pytest.raises(ValidationError):
        check_admin_code(200, {"gtin": "1", "code": "X", "status": "active"}, gtin="1", code="Y")


def test_region_database_locates_every_load_test_block(tmp_path: Path) -> None:
    import geoip2.database

    from loadtests.regions import REGION_PLACES, REGIONS, write_region_database

    assert [p.network for p in REGION_PLACES] == [cidr for _, cidr, _ in REGIONS]
    with geoip2.database.Reader(str(write_region_database(tmp_path / "r.mmdb"))) as reader:
        for (name, _block, _), place in zip(REGIONS, REGION_PLACES, strict=True):
            record = reader.city(place.host(77))
            assert record.country.iso_code == name[:2]
            code = name.split()[0]  # CN-GD, or a country (HK, DE) where any subdivision will do
            if "-" in code:
                assert f"{name[:2]}-{record.subdivisions.most_specific.iso_code}" == code
