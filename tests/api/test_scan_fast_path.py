"""``POST /v1/scans`` answers the same through the fast path and through the Litestar handler.

Both run in one app: the fast-path front (what servers run) and the bare Litestar app (what
serves the route when SCANGUARD_SCAN_FAST_PATH=0). Each request goes to both, and the answers
must be identical apart from the per-scan id and time.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from litestar import Litestar

from admin_api.app import with_scan_fast_path
from gateway.fastpath import MAX_SCAN_BODY_BYTES, ScanFastPath
from kernel.settings import Settings
from tests.api.test_scan import scannable
from tests.factories.codes import codes_of

RESOLVER = "https://id.example.test"
VOLATILE = ("scan_id", "checked_at")


def _pair(app: Litestar, settings: Settings) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
    front = with_scan_fast_path(app, settings)
    assert isinstance(front, ScanFastPath)

    def client(asgi: Any) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=asgi, client=("203.0.113.9", 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://testserver.local")

    return client(front), client(app)


def _comparable(response: httpx.Response) -> tuple[int, str, Any, str | None]:
    body = response.json()
    for key in VOLATILE:
        body.pop(key, None)
    return (
        response.status_code,
        response.headers["content-type"],
        body,
        response.headers.get("retry-after"),
    )


BAD_BODIES = [
    b"",
    b"{bad",
    b"[]",
    b'{"url": 5, "device_id": "d"}',
    b'{"url": "x", "device_id": "d"}',
    b'{"device_id": "dddd"}',
    b'{"url": "https://id.example.test/01/09506000134352/21/ABC", "device_id": "dd", "x": 1}',
    b'{"url": "https://id.example.test/01/09506000134352/21/ABC", "device_id": "dd",'
    b' "location": {"lat": 91, "lon": 0}}',
    b'{"url": "https://id.example.test/01/09506000134353/21/ABC", "device_id": "dddd"}',
    b'{"url": "https://example.com/not-a-link", "device_id": "dddd"}',
    b'{"url": "https://id.example.test/01/09506000134352/21/ABC", "device_id": "dddd"}',
    b'{"url": "https://id.example.test/01/09506000134352/21/ABC", "device_id": "d\\u0000d"}',
    b'{"url": "https://id.example.test/01/09506000134352/21/AB\\u0000", "device_id": "dddd"}',
    b'{"url": "https://id.example.test/01/09506000134352/21/ABC", "device_id": "dddd",'
    b' "location": ' + b"[" * 40 + b"]" * 40 + b"}",
]


@pytest.mark.parametrize("body", BAD_BODIES)
async def test_rejections_and_forgeries_are_identical(
    app: Litestar, settings: Settings, body: bytes
) -> None:
    fast, slow = _pair(app, settings)
    async with fast, slow:
        headers = {"content-type": "application/json"}
        answers = [await c.post("/v1/scans", content=body, headers=headers) for c in (fast, slow)]
    assert _comparable(answers[0]) == _comparable(answers[1])
    assert answers[0].status_code in (200, 400, 422)
    if answers[0].status_code == 400:
        assert answers[0].json()["field"]


async def test_verdicts_are_identical(app: Litestar, settings: Settings) -> None:
    _, product, _, roll = await scannable(app, count=4)
    first, second, *_ = codes_of(app, roll, product.gtin, [1, 2])
    fast, slow = _pair(app, settings)
    async with fast, slow:
        answers: dict[str, list[dict[str, Any]]] = {"fast": [], "slow": []}
        for name, client, code in (("fast", fast, first), ("slow", slow, second)):
            url = f"{RESOLVER}/01/{product.gtin}/21/{code}"
            location = {"lat": 31.23, "lon": 121.47, "accuracy_m": 20}
            for device in ("phone-1", "phone-2"):
                response = await client.post(
                    "/v1/scans", json={"url": url, "device_id": device, "location": location}
                )
                assert response.status_code == 200
                body = response.json()
                assert body.pop("serial") in (first, second)
                for key in VOLATILE:
                    assert body.pop(key)
                body["scans"].pop("first_scanned_at")
                answers[name].append(body)
    assert [a["verdict"] for a in answers["fast"]] == ["genuine", "already_scanned"]
    assert answers["fast"] == answers["slow"]


async def test_oversized_body_is_413(app: Litestar, settings: Settings) -> None:
    fast, _ = _pair(app, settings)
    async with fast:
        body = json.dumps({"url": "x" * MAX_SCAN_BODY_BYTES, "device_id": "d"})
        response = await fast.post(
            "/v1/scans", content=body, headers={"content-type": "application/json"}
        )
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"


async def test_rate_limit_is_the_same_problem(app: Litestar, settings: Settings) -> None:
    _, product, _, roll = await scannable(app, count=3)
    code = codes_of(app, roll, product.gtin, [1])[0]
    url = f"{RESOLVER}/01/{product.gtin}/21/{code}"
    limited = settings.with_overrides(gateway={"rate_limit_device_per_minute": 1})
    app.state.scans.settings = limited  # the service reads its limits per call
    fast, slow = _pair(app, settings)
    async with fast, slow:
        await fast.post("/v1/scans", json={"url": url, "device_id": "greedy-phone"})
        answers = [
            await c.post("/v1/scans", json={"url": url, "device_id": "greedy-phone"})
            for c in (fast, slow)
        ]
    assert answers[0].status_code == 429
    assert int(answers[0].headers["retry-after"]) >= 1
    assert _comparable(answers[0]) == _comparable(answers[1])


async def test_other_routes_pass_through(app: Litestar, settings: Settings) -> None:
    fast, _ = _pair(app, settings)
    async with fast:
        assert (await fast.get("/health")).status_code == 200
        assert (await fast.get("/v1/scans")).status_code == 405
