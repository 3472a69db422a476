"""Batch genealogy and traces through HTTP: material lots, consumption, shift, quality,
backward trace (code / batch → materials → suppliers), forward trace (lot → batches → code
ranges → scans), roles and tenant isolation."""

from __future__ import annotations

import httpx
from litestar import Litestar

from kernel.auth import Role
from tests.factories.codes import codes_of, make_roll, scan_path, token_headers
from tests.factories.shipping import make_sscc, pack
from tests.factories.tenancy import make_brand, make_product, platform_admin
from tests.factories.trace import create_material_lot, genealogy_world, scan


async def test_backward_trace_from_a_code_and_from_a_batch(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    w = await genealogy_world(app, client)
    a1 = w.batches["a1"]
    shift = await client.put(
        f"/v1/admin/batches/{a1.id}/shift", json={"shift": "night"}, headers=w.admin
    )
    assert shift.status_code == 200, shift.text
    quality = await client.post(
        f"/v1/admin/batches/{a1.id}/quality",
        json={"test": "microbiology", "outcome": "pass", "tested_at": "2025-01-16T08:00:00Z"},
        headers=w.admin,
    )
    assert quality.status_code == 201, quality.text

    [code] = w.codes(app, "a1", [5])
    url = f"https://id.example.test/01/{w.gtin('a1')}/21/{code}"
    response = await client.get("/v1/admin/traces/backward", params={"code": url}, headers=w.viewer)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["code"]["serial"] == code
    assert body["code"]["seq"] == 5
    assert body["code"]["status"] == "active"
    batch = body["batch"]
    assert batch["batch_id"] == str(a1.id)
    assert batch["lot"] == "L100"
    assert batch["gtin"] == w.product_a.gtin
    assert batch["shift"] == "night"
    assert batch["suppliers"] == ["Acme Resins", "CapCo"]
    lots = {m["material_lot"]["lot_number"]: m for m in batch["materials"]}
    assert set(lots) == {"PET-7", "CAP-3"}
    assert lots["PET-7"]["quantity"] == 12.5
    assert lots["CAP-3"]["unit"] == "PCE"
    assert [q["outcome"] for q in batch["quality"]] == ["pass"]

    # Same lot number, other product: a different batch with only the shared material.
    by_batch = await client.get(
        "/v1/admin/traces/backward", params={"batch_id": str(w.batches["b1"].id)}, headers=w.admin
    )
    assert by_batch.status_code == 200, by_batch.text
    b1 = by_batch.json()
    assert b1["code"] is None
    assert b1["batch"]["lot"] == "L100"
    assert b1["batch"]["gtin"] == w.product_b.gtin
    assert b1["batch"]["suppliers"] == ["Acme Resins"]


async def test_forward_trace_from_a_material_lot(app: Litestar, client: httpx.AsyncClient) -> None:
    w = await genealogy_world(app, client, roll_size=20)
    # Consumers scan 3 units of a1 (one of them twice), 1 of b1 and 2 of the control batch.
    a1 = w.codes(app, "a1", [0, 1, 2])
    for i, code in enumerate(a1):
        assert (await scan(client, w.gtin("a1"), code, device=f"dev-a1-{i}xx")).status_code == 200
    await scan(client, w.gtin("a1"), a1[0], device="dev-other-1")
    [b1] = w.codes(app, "b1", [7])
    await scan(client, w.gtin("b1"), b1)
    for code in w.codes(app, "control", [0, 1]):
        await scan(client, w.gtin("control"), code)

    params = {"material_lot_id": w.shared["id"]}
    response = await client.get("/v1/admin/traces/forward", params=params, headers=w.admin)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["root_kind"] == "material_lot"
    assert body["summary"] == {
        "batches": 3,
        "products": 2,
        "code_ranges": 3,
        "units_issued": 60,
        "units_active": 60,
        "units_void": 0,
        "units_scanned": 4,
        "scans": 5,
        "units_claimed": 0,
    }
    detail = body["detail"]
    assert detail["kind"] == "batches"
    assert detail["total"] == 3
    rows = {r["lot"] + "/" + r["gtin"]: r for r in detail["batches"]}
    a1_row = rows[f"L100/{w.product_a.gtin}"]
    assert (a1_row["units_issued"], a1_row["units_scanned"], a1_row["scans"]) == (20, 3, 4)
    assert a1_row["consumed_quantity"] == 12.5
    assert a1_row["consumed_unit"] == "KGM"
    assert rows[f"L100/{w.product_b.gtin}"]["units_scanned"] == 1
    assert rows[f"L101/{w.product_a.gtin}"]["scans"] == 0

    # Paginated detail: one batch per page.
    page = await client.get(
        "/v1/admin/traces/forward", params={**params, "limit": 1, "offset": 2}, headers=w.admin
    )
    assert page.status_code == 200
    assert page.json()["detail"]["total"] == 3
    assert len(page.json()["detail"]["batches"]) == 1

    # The consumers' scans, as a list, with each code's serial re-derived.
    scans = await client.get(
        "/v1/admin/traces/forward", params={**params, "detail": "scans"}, headers=w.admin
    )
    assert scans.status_code == 200, scans.text
    listed = scans.json()["detail"]
    assert listed["total"] == 5
    assert {s["serial"] for s in listed["scans"]} == {*a1, b1}
    assert all(s["device_hash"] for s in listed["scans"])

    distributors = await client.get(
        "/v1/admin/traces/forward", params={**params, "detail": "distributors"}, headers=w.admin
    )
    assert distributors.status_code == 200, distributors.text
    assert distributors.json()["detail"]["distributors"] == [
        {"distributor_id": None, "units_held": 0, "units_scanned": 4, "scans": 5}
    ]

    # From one batch.
    one = await client.get(
        "/v1/admin/traces/forward",
        params={"batch_id": str(w.batches["control"].id)},
        headers=w.admin,
    )
    assert one.status_code == 200
    assert one.json()["summary"]["units_scanned"] == 2
    assert one.json()["summary"]["batches"] == 1


async def test_viewers_get_counts_only(app: Litestar, client: httpx.AsyncClient) -> None:
    w = await genealogy_world(app, client)
    [code] = w.codes(app, "a1", [0])
    await scan(client, w.gtin("a1"), code)
    for detail in ("batches", "scans", "distributors"):
        response = await client.get(
            "/v1/admin/traces/forward",
            params={"material_lot_id": w.shared["id"], "detail": detail},
            headers=w.viewer,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["detail"] is None
        assert body["summary"]["units_scanned"] == 1


async def test_platform_admin_names_the_brand(app: Litestar, client: httpx.AsyncClient) -> None:
    w = await genealogy_world(app, client)
    headers = {**await platform_admin(app, client), "X-Scanguard-Brand": str(w.brand.id)}
    response = await client.get(
        "/v1/admin/traces/forward", params={"material_lot_id": w.shared["id"]}, headers=headers
    )
    assert response.status_code == 200
    assert response.json()["detail"]["total"] == 3


async def test_other_brands_see_nothing(app: Litestar, client: httpx.AsyncClient) -> None:
    w = await genealogy_world(app, client)
    intruder = await make_brand(app)
    headers = await token_headers(app, role=Role.BRAND_ADMIN, brand=intruder)
    [code] = w.codes(app, "a1", [0])
    checks = [
        ("/v1/admin/traces/forward", {"material_lot_id": w.shared["id"]}, "material_lot_not_found"),
        ("/v1/admin/traces/forward", {"batch_id": str(w.batches["a1"].id)}, "batch_not_found"),
        ("/v1/admin/traces/backward", {"batch_id": str(w.batches["a1"].id)}, "batch_not_found"),
        ("/v1/admin/traces/backward", {"code": f"/01/{w.gtin('a1')}/21/{code}"}, "code_not_found"),
        (f"/v1/admin/material-lots/{w.shared['id']}", {}, "material_lot_not_found"),
        (f"/v1/admin/batches/{w.batches['a1'].id}/genealogy", {}, "batch_not_found"),
        (f"/v1/admin/epcis/batches/{w.batches['a1'].id}", {}, "batch_not_found"),
    ]
    for path, params, problem in checks:
        response = await client.get(path, params=params, headers=headers)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["code"] == problem
    # Their lot cannot be consumed by our batch either, and vice versa.
    theirs = await create_material_lot(client, headers)
    response = await client.post(
        f"/v1/admin/batches/{w.batches['a1'].id}/materials",
        json={"material_lot_id": theirs["id"], "quantity": 1},
        headers=w.admin,
    )
    assert response.status_code == 404
    assert response.json()["field"] == "material_lot_id"
    listed = await client.get("/v1/admin/material-lots/", headers=headers)
    assert [lot["id"] for lot in listed.json()["items"]] == [theirs["id"]]


async def test_bad_input_is_a_problem_naming_the_field(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    w = await genealogy_world(app, client)
    cases = [
        (
            "post",
            "/v1/admin/material-lots/",
            {"supplier": "", "material": "x", "lot_number": "1", "received_date": "2025-01-01"},
            400,
            "supplier",
        ),
        (
            "post",
            "/v1/admin/material-lots/",
            {"supplier": "S", "material": "x", "lot_number": "1", "received_date": "nope"},
            400,
            "received_date",
        ),
        (
            "post",
            "/v1/admin/material-lots/",
            {
                "supplier": "Acme Resins",
                "material": "PET preform",
                "lot_number": "PET-7",
                "received_date": "2025-01-01",
            },
            409,
            "lot_number",
        ),
        (
            "post",
            f"/v1/admin/batches/{w.batches['a1'].id}/materials",
            {"material_lot_id": w.shared["id"], "quantity": -1},
            400,
            "quantity",
        ),
        (
            "post",
            f"/v1/admin/batches/{w.batches['a1'].id}/quality",
            {"test": "x", "outcome": "maybe", "tested_at": "2025-01-01T00:00:00Z"},
            400,
            "outcome",
        ),
        (
            "post",
            f"/v1/admin/batches/{w.batches['a1'].id}/quality",
            {"test": "x", "outcome": "pass", "tested_at": "2025-01-01T00:00:00"},
            400,
            "tested_at",
        ),
        ("get", "/v1/admin/traces/forward", None, 422, "material_lot_id"),
        ("get", "/v1/admin/traces/backward", None, 422, "code"),
    ]
    for method, path, body, status, field in cases:
        if method == "post":
            response = await client.post(path, json=body, headers=w.admin)
        else:
            response = await client.get(path, headers=w.admin)
        assert response.status_code == status, (path, body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in (response.json().get("field") or ""), (path, response.json())
    bad_code = await client.get(
        "/v1/admin/traces/backward", params={"code": "/01/12345/21/ABC"}, headers=w.admin
    )
    assert bad_code.status_code == 422
    assert bad_code.json()["field"] == "code"
    bad_detail = await client.get(
        "/v1/admin/traces/forward",
        params={"material_lot_id": w.shared["id"], "detail": "everything"},
        headers=w.admin,
    )
    assert bad_detail.status_code == 400
    assert "detail" in bad_detail.json().get("field", "")
    viewer_write = await client.post(
        "/v1/admin/material-lots/",
        json={"supplier": "S", "material": "M", "lot_number": "9", "received_date": "2025-01-01"},
        headers=w.viewer,
    )
    assert viewer_write.status_code == 403


async def test_backward_trace_from_a_case_and_a_pallet(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    w = await genealogy_world(app, client)
    case_product = await make_product(app, w.brand, name="Case of 12")
    case_roll = await make_roll(app, w.brand, case_product, count=2)
    [case_code] = codes_of(app, case_roll, case_product.gtin, [0])
    case_ref = {"code": scan_path(case_product.gtin, case_code)}
    units = [scan_path(w.gtin("a1"), c) for c in w.codes(app, "a1", [0, 1, 2])]
    units += [scan_path(w.gtin("b1"), c) for c in w.codes(app, "b1", [5, 6])]
    await pack(client, w.admin, case_ref, codes=units)
    sscc = make_sscc()
    await pack(client, w.admin, {"sscc": sscc}, kind="pallet", cases=[case_ref])

    by_case = await client.get(
        "/v1/admin/traces/backward", params={"code": case_ref["code"]}, headers=w.viewer
    )
    assert by_case.status_code == 200, by_case.text
    container = by_case.json()["container"]
    assert by_case.json()["batch"] is None
    assert (container["kind"], container["units"]) == ("case", 5)
    contents = {(b["batch"]["gtin"], b["batch"]["lot"]): b for b in container["batches"]}
    assert contents[(w.product_a.gtin, "L100")]["units"] == 3
    assert contents[(w.product_b.gtin, "L100")]["units"] == 2
    assert contents[(w.product_a.gtin, "L100")]["batch"]["suppliers"] == ["Acme Resins", "CapCo"]

    by_pallet = await client.get(
        "/v1/admin/traces/backward", params={"sscc": sscc}, headers=w.admin
    )
    assert by_pallet.status_code == 200, by_pallet.text
    pallet = by_pallet.json()["container"]
    assert (pallet["kind"], pallet["label"], pallet["units"]) == ("pallet", sscc, 5)

    unknown = await client.get(
        "/v1/admin/traces/backward", params={"sscc": make_sscc()}, headers=w.admin
    )
    assert unknown.status_code == 404
    assert unknown.json()["field"] == "sscc"
    malformed = await client.get(
        "/v1/admin/traces/backward", params={"sscc": "123"}, headers=w.admin
    )
    assert malformed.status_code == 422
    assert malformed.json()["field"] == "sscc"
