"""Diversion detection end to end: shipped goods, located consumer scans, signals with their
evidence, alert rules (travellers raise nothing), lifecycle, statistics, tenant isolation, and
a consumer answer that never reveals any of it. Every test runs on both backends."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

from gateway.geoip_fixture import write_city_database
from kernel.outbox import OutboxEvent
from kernel.settings import Settings
from tests.factories.channel import distributor_login, make_distributor, make_distributor_user
from tests.factories.diversion import (
    PLACES,
    AppClient,
    flush_diversion,
    located_app,
    scan,
    ship_range,
    shipped_goods,
)
from tests.factories.tenancy import brand_admin, brand_viewer
from tests.support.waiting import wait_until

BEIJING_IP = PLACES["Beijing"].host()
GUANGZHOU_IP = PLACES["Guangzhou"].host()
SHENZHEN_IP = PLACES["Shenzhen"].host()
LONDON_IP = PLACES["London"].host()
CN_ONLY_IP = PLACES["CN"].host()
SHANGHAI_GPS = (31.2304, 121.4737)
BEIJING_GPS = (39.9042, 116.4074)
ALERTS = "/v1/admin/diversion/alerts"


@pytest.fixture(scope="module")
def city_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_city_database(tmp_path_factory.mktemp("geo") / "city.mmdb")


@pytest.fixture
async def geo(settings: Settings, city_db: Path) -> AsyncIterator[AppClient]:
    # A long flush interval: the tests flush explicitly (one test relies on the background task).
    async with located_app(
        settings, city_db, channel={"diversion_flush_interval_s": 3600.0}
    ) as pair:
        yield pair


async def _get(client: httpx.AsyncClient, url: str, headers: dict[str, str], **params: Any) -> Any:
    response = await client.get(url, headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def _last_scan(
    client: httpx.AsyncClient, headers: dict[str, str], gtin: str, code: str
) -> Any:
    history = await _get(client, f"/v1/admin/codes/{gtin}/{code}/scans", headers)
    return history["scans"][0]


async def _set_rule(client: httpx.AsyncClient, headers: dict[str, str], **rule: Any) -> None:
    response = await client.put("/v1/admin/diversion/rule", json=rule, headers=headers)
    assert response.status_code == 200, response.text


def _assert_beijing_evidence(evidence: Any, goods: Any, code: str, scan_id: str) -> None:
    """A signal of ``code`` of ``goods`` (shipped to CN-GD) scanned from the Beijing IP."""
    assert (evidence["serial"], evidence["gtin"]) == (code, goods.product.gtin)
    assert evidence["product_name"] == "Moutai 500ml"
    assert (evidence["batch_id"], evidence["lot"]) == (str(goods.batch.id), goods.batch.lot)
    assert evidence["shipment_id"] == str(goods.shipment_id)
    assert evidence["document_number"].startswith("DN-")
    assert evidence["distributor_id"] == str(goods.distributor.id)
    assert evidence["expected_territory"]["regions"] == ["CN-GD"]
    assert (evidence["country"], evidence["region"], evidence["city"]) == ("CN", "CN-BJ", "Beijing")
    assert (evidence["location_source"], evidence["location_confidence"]) == ("ip", 0.5)
    assert evidence["scan_id"] == scan_id


# ---------------------------------------------------------------------------------------------
# Signals and their evidence
# ---------------------------------------------------------------------------------------------
async def test_a_scan_outside_the_territory_is_a_signal_with_its_evidence(geo: AppClient) -> None:
    app, client = geo
    goods = await shipped_goods(app, client, regions=("CN-GD",))
    gtin, codes = goods.product.gtin, goods.codes
    await _set_rule(client, goods.admin, min_distinct_codes=1)

    await scan(client, gtin, codes[0], ip=GUANGZHOU_IP)  # inside: no signal
    await scan(client, gtin, codes[1], ip=CN_ONLY_IP)  # "somewhere in CN": unknown, no signal
    await scan(client, gtin, codes[2], ip="10.9.8.7")  # not located: no signal
    await scan(client, gtin, codes[3], ip=BEIJING_IP)  # CN-BJ: outside CN-GD
    assert await flush_diversion(app) == 1

    recorded = [await _last_scan(client, goods.admin, gtin, c) for c in codes[:4]]
    assert [s["diverted"] for s in recorded] == [False, None, None, True]
    assert {s["distributor_id"] for s in recorded} == {str(goods.distributor.id)}

    [alert] = (await _get(client, ALERTS, goods.admin))["items"]
    assert (alert["area"], alert["distinct_codes"], alert["status"]) == ("CN-BJ", 1, "open")
    detail = await _get(client, f"{ALERTS}/{alert['id']}", goods.admin)
    [evidence] = detail["signals"]
    _assert_beijing_evidence(evidence, goods, codes[3], recorded[3]["scan_id"])
    assert detail["history"][0]["action"] == "opened"
    assert detail["history"][0]["actor_name"] == "system"


async def test_unshipped_codes_and_inactive_codes_raise_nothing(geo: AppClient) -> None:
    app, client = geo
    goods = await shipped_goods(app, client, regions=("CN-GD",), count=6, shipped=3)
    await _set_rule(client, goods.admin, min_distinct_codes=1)
    await scan(client, goods.product.gtin, goods.codes[4], ip=BEIJING_IP)  # never shipped
    assert await flush_diversion(app) == 0
    scanned = await _last_scan(client, goods.admin, goods.product.gtin, goods.codes[4])
    assert (scanned["distributor_id"], scanned["diverted"]) == (None, None)
    assert (await _get(client, ALERTS, goods.admin))["total"] == 0


TERRITORY_CASES: list[tuple[dict[str, Any], str | None, tuple[float, float, float] | None, Any]] = [
    ({"regions": ["CN"]}, GUANGZHOU_IP, None, False),  # a country holds its provinces
    ({"regions": ["CN"]}, LONDON_IP, None, True),
    ({"regions": ["CN-GD"]}, CN_ONLY_IP, None, None),  # country-level IP: cannot tell
    ({"regions": ["CN-GD", "CN-BJ"]}, BEIJING_IP, None, False),  # a union of regions
    ({"cities": [{"region": "CN-GD", "name": "Shenzhen"}]}, SHENZHEN_IP, None, False),
    ({"cities": [{"region": "CN-GD", "name": "Shenzhen"}]}, GUANGZHOU_IP, None, True),
    ({"cities": [{"region": "CN-GD", "name": "Shenzhen"}]}, BEIJING_IP, None, True),
    # geofence around Shanghai: GPS decides, an IP-only scan cannot be judged against a fence
    ({"geofences": [{"type": "circle", "lat": 31.23, "lon": 121.47, "radius_m": 30_000}]},
     None, (*SHANGHAI_GPS, 20.0), False),
    ({"geofences": [{"type": "circle", "lat": 31.23, "lon": 121.47, "radius_m": 30_000}]},
     None, (*BEIJING_GPS, 20.0), True),
    ({"geofences": [{"type": "circle", "lat": 31.23, "lon": 121.47, "radius_m": 30_000}]},
     PLACES["Shanghai"].host(), None, None),
    # GPS in Beijing with a Beijing IP keeps the region: outside a CN-GD territory
    ({"regions": ["CN-GD"]}, BEIJING_IP, (*BEIJING_GPS, 30.0), True),
    # GPS in Beijing behind a Guangdong (home-province) IP: no region, no fence → unknown
    ({"regions": ["CN-GD"]}, GUANGZHOU_IP, (*BEIJING_GPS, 30.0), None),
]  # fmt: skip


async def test_territory_edge_cases_end_to_end(geo: AppClient) -> None:
    app, client = geo
    goods = await shipped_goods(app, client, count=len(TERRITORY_CASES))
    got = []
    for i, (territory, ip, gps, _) in enumerate(TERRITORY_CASES):
        response = await client.patch(
            f"/v1/admin/distributors/{goods.distributor.id}",
            json={"territory": territory},
            headers=goods.admin,
        )
        assert response.status_code == 200, response.text
        await scan(client, goods.product.gtin, goods.codes[i], ip=ip or "10.0.0.9", gps=gps)
        got.append(
            (await _last_scan(client, goods.admin, goods.product.gtin, goods.codes[i]))["diverted"]
        )
    assert got == [case[3] for case in TERRITORY_CASES]


# ---------------------------------------------------------------------------------------------
# Rules: travellers do not raise alerts, N distinct codes do
# ---------------------------------------------------------------------------------------------
async def test_a_traveller_scanning_one_or_two_codes_raises_no_alert(geo: AppClient) -> None:
    app, client = geo
    goods = await shipped_goods(app, client, regions=("CN-GD",))
    for _ in range(5):  # one consumer from Guangdong, in Beijing, scanning two bottles a lot
        for code in goods.codes[:2]:
            await scan(client, goods.product.gtin, code, ip=BEIJING_IP, device="traveller-1")
    assert await flush_diversion(app) == 0
    assert (await _get(client, ALERTS, goods.admin))["total"] == 0
    [rate] = await _get(client, "/v1/admin/diversion/rates", goods.admin)
    assert (rate["located_scans"], rate["diverted_scans"], rate["rate"]) == (10, 10, 1.0)


async def test_three_distinct_codes_in_one_foreign_region_open_one_alert(geo: AppClient) -> None:
    app, client = geo
    goods = await shipped_goods(app, client, regions=("CN-GD",))
    gtin, codes = goods.product.gtin, goods.codes
    for i, code in enumerate(codes[:2]):
        await scan(client, gtin, code, ip=BEIJING_IP, device=f"buyer-{i}")
    await scan(client, gtin, codes[2], ip=LONDON_IP)  # another area: its own group
    assert await flush_diversion(app) == 0
    await scan(client, gtin, codes[3], ip=BEIJING_IP, device="buyer-3")
    assert await flush_diversion(app) == 1  # the third distinct code in CN-BJ

    [alert] = (await _get(client, ALERTS, goods.admin))["items"]
    assert (alert["area"], alert["distinct_codes"], alert["signal_count"]) == ("CN-BJ", 3, 3)
    assert alert["distributor_id"] == str(goods.distributor.id)
    assert alert["rule"]["min_distinct_codes"] == 3

    # Later signals of the group join the open alert; no second alert opens.
    await scan(client, gtin, codes[4], ip=BEIJING_IP, device="buyer-4")
    await scan(client, gtin, codes[0], ip=BEIJING_IP, device="buyer-5")  # a repeat code
    assert await flush_diversion(app) == 0
    [alert] = (await _get(client, ALERTS, goods.admin))["items"]
    assert (alert["distinct_codes"], alert["signal_count"]) == (4, 5)

    async with app.state.session_factory() as session:
        events = (
            (
                await session.execute(
                    select(OutboxEvent).where(OutboxEvent.brand_id == goods.brand.id)
                )
            )
            .scalars()
            .all()
        )
    [opened] = [e for e in events if e.event_type == "diversion.alert.opened"]
    assert opened.subject_id == alert["id"]
    assert opened.payload["suspect_distributor_id"] == str(goods.distributor.id)
    assert "distributor_id" not in opened.payload  # never routed to the suspect's inbox


async def test_min_confidence_counts_only_well_located_signals(geo: AppClient) -> None:
    app, client = geo
    goods = await shipped_goods(app, client, regions=("CN-GD",))
    gtin, codes = goods.product.gtin, goods.codes
    await _set_rule(client, goods.admin, min_distinct_codes=2, min_confidence=0.8)
    await scan(client, gtin, codes[0], ip=BEIJING_IP)  # IP: confidence 0.5
    await scan(client, gtin, codes[1], ip=BEIJING_IP)
    assert await flush_diversion(app) == 0
    await scan(client, gtin, codes[2], ip=BEIJING_IP, gps=(*BEIJING_GPS, 20.0))  # 0.9
    await scan(client, gtin, codes[3], ip=BEIJING_IP, gps=(*BEIJING_GPS, 50.0))
    assert await flush_diversion(app) == 1
    [alert] = (await _get(client, ALERTS, goods.admin))["items"]
    assert alert["distinct_codes"] == 2
    detail = await _get(client, f"{ALERTS}/{alert['id']}", goods.admin)
    assert {s["location_source"] for s in detail["signals"]} == {"gps"}


async def test_the_rule_api(geo: AppClient) -> None:
    app, client = geo
    brand, admin = await brand_admin(app, client)
    _, viewer = await brand_viewer(app, client, brand)
    rule = await _get(client, "/v1/admin/diversion/rule", viewer)
    assert rule == {
        "min_distinct_codes": 3,
        "window_hours": 72,
        "min_confidence": 0.0,
        "enabled": True,
        "is_default": True,
    }
    new = {"min_distinct_codes": 5, "window_hours": 24, "min_confidence": 0.5, "enabled": False}
    response = await client.put("/v1/admin/diversion/rule", json=new, headers=admin)
    assert response.status_code == 200, response.text
    assert await _get(client, "/v1/admin/diversion/rule", viewer) == {**new, "is_default": False}
    bad = await client.put(
        "/v1/admin/diversion/rule", json={**new, "min_distinct_codes": 0}, headers=admin
    )
    assert bad.status_code == 400
    assert "min_distinct_codes" in bad.text
    assert (
        await client.put("/v1/admin/diversion/rule", json=new, headers=viewer)
    ).status_code == 403
    audit = await _get(client, "/v1/admin/audit", admin)
    assert "diversion.rule.update" in {e["action"] for e in audit["items"]}


async def test_a_disabled_rule_opens_nothing(geo: AppClient) -> None:
    app, client = geo
    goods = await shipped_goods(app, client, regions=("CN-GD",))
    await _set_rule(client, goods.admin, min_distinct_codes=1, enabled=False)
    await scan(client, goods.product.gtin, goods.codes[0], ip=BEIJING_IP)
    assert await flush_diversion(app) == 0
    assert (await _get(client, ALERTS, goods.admin))["total"] == 0


# ---------------------------------------------------------------------------------------------
# Lifecycle
# ---------------------------------------------------------------------------------------------
async def _open_alert(app: Any, client: httpx.AsyncClient, goods: Any, codes: list[str]) -> str:
    for code in codes:
        await scan(client, goods.product.gtin, code, ip=BEIJING_IP)
    assert await flush_diversion(app) == 1
    items = (await _get(client, ALERTS, goods.admin, status="open"))["items"]
    alert_id: str = items[0]["id"]
    return alert_id


async def test_alert_lifecycle_with_notes_history_and_events(geo: AppClient) -> None:
    app, client = geo
    goods = await shipped_goods(app, client, regions=("CN-GD",))
    _, viewer = await brand_viewer(app, client, goods.brand)
    alert_id = await _open_alert(app, client, goods, goods.codes[:3])
    url = f"{ALERTS}/{alert_id}"

    early = await client.post(f"{url}/confirm", json={}, headers=goods.admin)
    assert early.status_code == 409
    assert early.json()["code"] == "invalid_transition"
    assert (await client.post(f"{url}/acknowledge", json={}, headers=viewer)).status_code == 403

    ack = await client.post(
        f"{url}/acknowledge", json={"note": "asking the distributor"}, headers=goods.admin
    )
    assert ack.status_code == 200, ack.text
    assert ack.json()["status"] == "acknowledged"
    again = await client.post(f"{url}/acknowledge", json={}, headers=goods.admin)
    assert again.status_code == 409
    note = await client.post(
        f"{url}/notes", json={"note": "invoice requested"}, headers=goods.admin
    )
    assert note.status_code == 201, note.text
    assert (
        await client.post(f"{url}/notes", json={"note": ""}, headers=goods.admin)
    ).status_code == 400
    done = await client.post(
        f"{url}/confirm", json={"note": "sold on to a Beijing wholesaler"}, headers=goods.admin
    )
    assert done.json()["status"] == "confirmed"
    unknown = await client.post(f"{url}/reopen", json={}, headers=goods.admin)
    assert unknown.status_code == 400
    for action in ("dismiss", "acknowledge", "confirm"):
        assert (
            await client.post(f"{url}/{action}", json={}, headers=goods.admin)
        ).status_code == 409

    detail = await _get(client, url, viewer)
    history = [
        (h["action"], h["from_status"], h["to_status"], h["note"]) for h in detail["history"]
    ]
    assert history == [
        ("opened", None, "open", None),
        ("acknowledge", "open", "acknowledged", "asking the distributor"),
        ("note", "acknowledged", "acknowledged", "invoice requested"),
        ("confirm", "acknowledged", "confirmed", "sold on to a Beijing wholesaler"),
    ]
    assert {h["actor_name"] for h in detail["history"][1:]} == {detail["alert"]["updated_by"]}
    async with app.state.session_factory() as session:
        types = (
            (
                await session.execute(
                    select(OutboxEvent.event_type).where(OutboxEvent.subject_id == alert_id)
                )
            )
            .scalars()
            .all()
        )
    assert sorted(types) == [
        "diversion.alert.acknowledged",
        "diversion.alert.confirmed",
        "diversion.alert.opened",
    ]
    audit = await _get(client, "/v1/admin/audit", goods.admin, limit=200)
    assert {"diversion.alert.acknowledge", "diversion.alert.note", "diversion.alert.confirm"} <= {
        e["action"] for e in audit["items"]
    }

    # A closed alert frees its group: new evidence (fresh codes) opens a new alert.
    new_id = await _open_alert(app, client, goods, goods.codes[3:6])
    assert new_id != alert_id
    assert (await _get(client, ALERTS, goods.admin, status="confirmed"))["total"] == 1


async def test_dismissing_and_filters(geo: AppClient) -> None:
    app, client = geo
    goods = await shipped_goods(app, client, regions=("CN-GD",))
    alert_id = await _open_alert(app, client, goods, goods.codes[:3])
    url = f"{ALERTS}/{alert_id}"
    await client.post(f"{url}/acknowledge", json={}, headers=goods.admin)
    dismissed = await client.post(
        f"{url}/dismiss", json={"note": "a trade fair"}, headers=goods.admin
    )
    assert dismissed.json()["status"] == "dismissed"
    assert (await _get(client, ALERTS, goods.admin, status="open"))["total"] == 0
    assert (await _get(client, ALERTS, goods.admin, area="CN-BJ"))["total"] == 1
    assert (await _get(client, ALERTS, goods.admin, area="CN-SH"))["total"] == 0
    other = str(uuid.uuid4())
    assert (await _get(client, ALERTS, goods.admin, distributor_id=other))["total"] == 0
    assert (await _get(client, ALERTS, goods.admin, limit=1, offset=1))["items"] == []
    assert (
        await client.get(ALERTS, params={"status": "closed"}, headers=goods.admin)
    ).status_code == 400


async def test_another_brand_cannot_see_or_touch_the_alert(geo: AppClient) -> None:
    app, client = geo
    goods = await shipped_goods(app, client, regions=("CN-GD",))
    alert_id = await _open_alert(app, client, goods, goods.codes[:3])
    _, other = await brand_admin(app, client)
    assert (await client.get(f"{ALERTS}/{alert_id}", headers=other)).status_code == 404
    for action in ("acknowledge", "confirm", "dismiss"):
        response = await client.post(f"{ALERTS}/{alert_id}/{action}", json={}, headers=other)
        assert response.status_code == 404
    note = await client.post(f"{ALERTS}/{alert_id}/notes", json={"note": "x"}, headers=other)
    assert note.status_code == 404
    assert (await _get(client, ALERTS, other))["total"] == 0
    assert await _get(client, "/v1/admin/diversion/rates", other) == []
    assert await _get(client, "/v1/admin/diversion/map", other) == []
    assert (await client.get(ALERTS)).status_code == 401


# ---------------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------------
async def test_rates_map_and_time_series(geo: AppClient) -> None:
    app, client = geo
    goods = await shipped_goods(app, client, regions=("CN-GD",), count=12, shipped=6)
    second = await make_distributor(app, goods.brand, regions=("CN-BJ",))
    await ship_range(client, goods.admin, goods.roll, second, 6, 12)
    gtin, codes = goods.product.gtin, goods.codes
    for code in codes[:3]:
        await scan(client, gtin, code, ip=GUANGZHOU_IP)  # first distributor, inside
    await scan(client, gtin, codes[3], ip=BEIJING_IP)  # first, diverted to CN-BJ
    await scan(client, gtin, codes[4], ip=CN_ONLY_IP)  # first, not judged: CN only
    await scan(client, gtin, codes[6], ip=BEIJING_IP)  # second, inside
    await scan(client, gtin, codes[7], ip=LONDON_IP)  # second, diverted to GB-ENG
    await scan(client, gtin, codes[8], ip="10.0.0.1")  # not located: not counted at all
    await flush_diversion(app)

    rates = await _get(client, "/v1/admin/diversion/rates", goods.admin)
    assert [
        (r["distributor_id"], r["located_scans"], r["diverted_scans"], r["rate"]) for r in rates
    ] == [
        (str(second.id), 2, 1, 0.5),
        (str(goods.distributor.id), 4, 1, 0.25),  # the CN-only scan could not be judged
    ]
    cells = await _get(client, "/v1/admin/diversion/map", goods.admin)
    assert {
        (c["distributor_id"], c["area"], c["located_scans"], c["diverted_scans"]) for c in cells
    } == {
        (str(goods.distributor.id), "CN-GD", 3, 0),
        (str(goods.distributor.id), "CN-BJ", 1, 1),
        (str(second.id), "CN-BJ", 1, 0),
        (str(second.id), "GB-ENG", 1, 1),
    }
    diverted = await _get(
        client,
        "/v1/admin/diversion/map",
        goods.admin,
        diverted_only="true",
        distributor_id=str(second.id),
    )
    assert [(c["area"], c["diverted_scans"]) for c in diverted] == [("GB-ENG", 1)]

    now = datetime.now(UTC)
    hours = await _get(client, "/v1/admin/diversion/timeseries", goods.admin, bucket="hour")
    [point] = hours  # every scan of this test falls in this hour (or, rarely, the next)
    assert (point["located_scans"], point["diverted_scans"]) == (6, 2)
    assert datetime.fromisoformat(point["bucket_start"]) <= now
    days = await _get(
        client, "/v1/admin/diversion/timeseries", goods.admin, bucket="day", area="CN-BJ"
    )
    assert [(d["located_scans"], d["diverted_scans"]) for d in days] == [(2, 1)]
    assert datetime.fromisoformat(days[0]["bucket_start"]).hour == 0
    past = (now - timedelta(days=400)).isoformat()
    too_long = await client.get(
        "/v1/admin/diversion/rates", params={"since": past}, headers=goods.admin
    )
    assert too_long.status_code == 422
    assert too_long.json()["code"] == "range_too_long"
    backwards = await client.get(
        "/v1/admin/diversion/timeseries",
        params={"since": now.isoformat(), "until": (now - timedelta(hours=1)).isoformat()},
        headers=goods.admin,
    )
    assert backwards.status_code == 422
    earlier = await _get(
        client,
        "/v1/admin/diversion/rates",
        goods.admin,
        since=(now - timedelta(days=3)).isoformat(),
        until=(now - timedelta(days=2)).isoformat(),
    )
    assert earlier == []


# ---------------------------------------------------------------------------------------------
# A flush that fails loses nothing and doubles nothing
# ---------------------------------------------------------------------------------------------
class _ReplyLost(Session):
    """A session whose COMMIT lands but whose caller hears a connection error, as when the
    connection drops between the server's commit and its reply."""


@event.listens_for(_ReplyLost, "after_commit")
def _drop_the_reply(session: Session) -> None:
    raise OSError("connection reset after COMMIT")


@asynccontextmanager
async def _recorder_sessions(app: Litestar, factory: async_sessionmaker[AsyncSession]) -> Any:
    recorder = app.state.diversion
    kept = recorder.session_factory
    recorder.session_factory = factory
    try:
        yield
    finally:
        recorder.session_factory = kept


def _unreachable_database(settings: Settings, tmp_path: Path) -> AsyncEngine:
    if settings.database.url.startswith("sqlite"):
        return create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/missing-dir/gone.db")
    return create_async_engine(settings.database.url.replace("@127.0.0.1:5432/", "@127.0.0.1:1/"))


async def _counts(client: httpx.AsyncClient, goods: Any) -> tuple[Any, ...]:
    [alert] = (await _get(client, ALERTS, goods.admin))["items"]
    detail = await _get(client, f"{ALERTS}/{alert['id']}", goods.admin)
    [rate] = await _get(client, "/v1/admin/diversion/rates", goods.admin)
    return (
        alert["signal_count"],
        alert["distinct_codes"],
        len(detail["signals"]),
        rate["located_scans"],
        rate["diverted_scans"],
    )


async def test_signals_buffered_while_the_database_is_down_are_written_once_it_is_back(
    geo: AppClient, settings: Settings, tmp_path: Path
) -> None:
    app, client = geo
    goods = await shipped_goods(app, client, regions=("CN-GD",))
    await _set_rule(client, goods.admin, min_distinct_codes=3)
    for code in goods.codes[:3]:
        await scan(client, goods.product.gtin, code, ip=BEIJING_IP)
    await scan(client, goods.product.gtin, goods.codes[3], ip=GUANGZHOU_IP)
    down = _unreachable_database(settings, tmp_path)
    try:
        async with _recorder_sessions(app, async_sessionmaker(down)):
            assert await flush_diversion(app) == 0
            assert await flush_diversion(app) == 0  # still down: still kept
    finally:
        await down.dispose()
    assert (await _get(client, ALERTS, goods.admin))["total"] == 0
    await scan(client, goods.product.gtin, goods.codes[4], ip=BEIJING_IP)  # meanwhile

    assert await flush_diversion(app) == 1
    assert await _counts(client, goods) == (4, 4, 4, 5, 4)


async def test_a_flush_whose_reply_was_lost_is_not_written_twice(geo: AppClient) -> None:
    app, client = geo
    goods = await shipped_goods(app, client, regions=("CN-GD",))
    await _set_rule(client, goods.admin, min_distinct_codes=2)
    for code in goods.codes[:2]:
        await scan(client, goods.product.gtin, code, ip=BEIJING_IP)
    await scan(client, goods.product.gtin, goods.codes[2], ip=GUANGZHOU_IP)
    engine = app.state.runtime.engine
    async with _recorder_sessions(app, async_sessionmaker(engine, sync_session_class=_ReplyLost)):
        assert await flush_diversion(app) == 0  # looks failed to the recorder...
    assert await _counts(client, goods) == (2, 2, 2, 3, 2)  # ...but it committed

    await scan(client, goods.product.gtin, goods.codes[3], ip=BEIJING_IP)
    assert await flush_diversion(app) == 0  # the carried batch is dropped, the new one joins
    assert await _counts(client, goods) == (3, 3, 3, 4, 3)
    assert await flush_diversion(app) == 0
    assert await _counts(client, goods) == (3, 3, 3, 4, 3)


async def test_what_a_process_never_wrote_is_rebuilt_with_its_evidence_at_the_next_start(
    settings: Settings, city_db: Path, tmp_path: Path
) -> None:
    slow = {"diversion_flush_interval_s": 3600.0}
    down = _unreachable_database(settings, tmp_path)
    try:
        async with located_app(settings, city_db, channel=slow) as (app, client):
            goods = await shipped_goods(app, client, regions=("CN-GD",))
            gtin, codes = goods.product.gtin, goods.codes
            await _set_rule(client, goods.admin, min_distinct_codes=1)
            await scan(client, gtin, codes[0], ip=GUANGZHOU_IP)  # inside: a tally, no signal
            answer = await scan(client, gtin, codes[3], ip=BEIJING_IP)
            # Its last flush cannot reach the database: the buffer dies with the process.
            app.state.diversion.session_factory = async_sessionmaker(down)
    finally:
        await down.dispose()

    async with located_app(settings, city_db, channel=slow) as (app, client):

        async def alerted() -> bool:
            return bool((await _get(client, ALERTS, goods.admin))["total"])

        await wait_until(alerted, what="the start-up to rebuild the signal")
        [alert] = (await _get(client, ALERTS, goods.admin))["items"]
        [evidence] = (await _get(client, f"{ALERTS}/{alert['id']}", goods.admin))["signals"]
        [rate] = await _get(client, "/v1/admin/diversion/rates", goods.admin)
        assert await flush_diversion(app) == 0  # nothing left to take, nothing twice

    assert (alert["area"], alert["signal_count"]) == ("CN-BJ", 1)
    _assert_beijing_evidence(evidence, goods, codes[3], answer["scan_id"])
    assert (rate["located_scans"], rate["diverted_scans"]) == (2, 1)


# ---------------------------------------------------------------------------------------------
# The consumer never learns about diversion; channel checks can be turned off
# ---------------------------------------------------------------------------------------------
def _comparable(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k not in ("serial", "scan_id", "checked_at")} | {
        "scans": {k: v for k, v in answer["scans"].items() if k != "first_scanned_at"}
    }


async def test_the_consumer_answer_is_the_same_with_and_without_diversion(geo: AppClient) -> None:
    app, client = geo
    goods = await shipped_goods(app, client, regions=("CN-GD",), count=9, shipped=3)
    beijing = await make_distributor(app, goods.brand, regions=("CN-BJ",))
    await ship_range(client, goods.admin, goods.roll, beijing, 3, 6)
    gtin, codes = goods.product.gtin, goods.codes
    answers = []
    for code in (codes[0], codes[3], codes[6]):  # diverted, inside, never shipped
        first = await scan(client, gtin, code, ip=BEIJING_IP, device="same-phone")
        again = await scan(client, gtin, code, ip=BEIJING_IP, device="same-phone")
        answers.append((_comparable(first), _comparable(again)))
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0]["verdict"] == "genuine"
    diverted = await _last_scan(client, goods.admin, gtin, codes[0])
    assert diverted["diverted"] is True


async def test_channel_checks_off_records_no_channel_context(
    settings: Settings, city_db: Path
) -> None:
    async with located_app(settings, city_db, channel={"channel_checks": False}) as (app, client):
        goods = await shipped_goods(app, client, regions=("CN-GD",))
        await _set_rule(client, goods.admin, min_distinct_codes=1)
        await scan(client, goods.product.gtin, goods.codes[0], ip=BEIJING_IP)
        assert await flush_diversion(app) == 0
        scanned = await _last_scan(client, goods.admin, goods.product.gtin, goods.codes[0])
        assert (scanned["distributor_id"], scanned["diverted"]) == (None, None)


async def test_the_background_task_writes_signals_without_being_asked(
    settings: Settings, city_db: Path
) -> None:
    async with located_app(settings, city_db, channel={"diversion_flush_interval_s": 0.05}) as (
        app,
        client,
    ):
        goods = await shipped_goods(app, client, regions=("CN-GD",))
        await _set_rule(client, goods.admin, min_distinct_codes=1)
        await scan(client, goods.product.gtin, goods.codes[0], ip=BEIJING_IP)

        async def alerted() -> bool:
            return bool((await _get(client, ALERTS, goods.admin))["total"])

        await wait_until(alerted, what="an alert")
        assert (await _get(client, ALERTS, goods.admin))["total"] == 1


# ---------------------------------------------------------------------------------------------
# Live stream (server-sent events over a real HTTP connection)
# ---------------------------------------------------------------------------------------------
async def _next_event(lines: AsyncIterator[str]) -> dict[str, str]:
    """The next server-sent event's fields (comments, i.e. keep-alives, skipped)."""
    event: dict[str, str] = {}
    while True:
        line = await asyncio.wait_for(anext(lines), timeout=5)
        if not line:
            if event:
                return event
            continue
        if not line.startswith(":"):
            key, _, value = line.partition(":")
            event[key] = value.removeprefix(" ")


async def test_new_alerts_arrive_on_the_event_stream(geo: AppClient) -> None:
    import uvicorn

    app, client = geo
    goods = await shipped_goods(app, client, regions=("CN-GD",))
    other_goods = await shipped_goods(app, client, regions=("CN-GD",))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    try:
        await wait_until(lambda: server.started, interval_s=0.01, what="the server to start")
        port = server.servers[0].sockets[0].getsockname()[1]
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http,
            http.stream("GET", f"{ALERTS}/stream", headers=goods.admin) as stream,
        ):
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.aiter_lines()
            assert (await _next_event(lines))["event"] == "ready"
            # Another brand's alert first: it must not reach this stream.
            await _open_alert(app, client, other_goods, other_goods.codes[:3])
            alert_id = await _open_alert(app, client, goods, goods.codes[:3])
            event = await _next_event(lines)
            assert event["event"] == "diversion.alert.opened"
            assert event["id"] == alert_id
            assert f'"alert_id": "{alert_id}"' in event["data"]
            assert str(goods.brand.id) in event["data"]
    finally:
        server.should_exit = True
        await serving


async def test_a_distributor_user_cannot_read_alerts(geo: AppClient) -> None:
    app, client = geo
    goods = await shipped_goods(app, client, regions=("CN-GD",))
    username = await make_distributor_user(app, goods.distributor)
    token = await distributor_login(client, username)
    assert (await client.get(ALERTS, headers=token)).status_code == 401
