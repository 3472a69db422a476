"""The scan log keeps one connection while scans flow, and survives that connection dying."""

from __future__ import annotations

import pytest
from litestar import Litestar
from sqlalchemy import text

import gateway.scanlog
from tests.api.test_scan import post_scan, scannable
from tests.factories.codes import codes_of

RESOLVER = "https://id.example.test"


async def _kill_writer_connection(app: Litestar) -> None:
    writer = app.state.scans.scanlog
    assert writer._conn is not None, "the writer holds a connection after a flush"
    pid = (await writer._conn.exec_driver_sql("SELECT pg_backend_pid()")).scalar_one()
    await writer._conn.rollback()
    async with app.state.runtime.engine.connect() as other:
        await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


@pytest.mark.parametrize("backend", ["services"])
async def test_a_connection_dropped_while_idle_costs_no_scan(
    app: Litestar, client, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    # Any pause counts as idle: the next flush pings the held connection before using it.
    monkeypatch.setattr(gateway.scanlog, "IDLE_RECHECK_S", 0.0)
    _, product, _, roll = await scannable(app, count=3)
    first, second = codes_of(app, roll, product.gtin, [1, 2])
    assert (await post_scan(client, f"{RESOLVER}/01/{product.gtin}/21/{first}", "p1")).json()[
        "verdict"
    ] == "genuine"
    await _kill_writer_connection(app)
    response = await post_scan(client, f"{RESOLVER}/01/{product.gtin}/21/{second}", "p1")
    assert response.status_code == 200
    assert response.json()["verdict"] == "genuine"


@pytest.mark.parametrize("backend", ["services"])
async def test_a_connection_dropped_under_load_fails_one_batch_then_recovers(
    app: Litestar, client, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(gateway.scanlog, "IDLE_RECHECK_S", 3600.0)
    _, product, _, roll = await scannable(app, count=4)
    codes = codes_of(app, roll, product.gtin, [1, 2, 3])
    url = [f"{RESOLVER}/01/{product.gtin}/21/{c}" for c in codes]
    assert (await post_scan(client, url[0], "p1")).json()["verdict"] == "genuine"
    await _kill_writer_connection(app)
    failed = await post_scan(client, url[1], "p1")
    assert failed.status_code == 503
    assert failed.json()["code"] == "scanlog_unavailable"
    # Nothing was recorded for the failed scan: retried, it is still the code's first scan.
    retried = await post_scan(client, url[1], "p1")
    assert retried.status_code == 200
    assert retried.json()["verdict"] == "genuine"
