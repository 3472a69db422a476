"""Demo data for ``make run``: a brand, logins, products, a batch and codes in every state,
two regional distributors with a shipment, and a GeoIP database so that scans are located.

Idempotent: a second run finds what the first made and only prints it again. The demo
pre-scans a few codes through the real gateway (in-process ASGI calls), so the sample URLs
show every verdict. Passwords are random per install and kept in ``var/demo.json``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Awaitable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy import select

from anticounterfeit.catalogue.queries import (
    Batch,
    Brand,
    Product,
    get_batch_by_lot,
    get_brand_by_slug,
    get_product_by_gtin,
)
from anticounterfeit.catalogue.services import create_batch, create_brand, create_product
from anticounterfeit.codes.format import Keyring, encode_code
from anticounterfeit.codes.metadata import CodeMetadataService
from anticounterfeit.codes.queries import CodeRoll
from anticounterfeit.codes.services import IssueRequest, issue_roll, void_range
from anticounterfeit.gs1.gtin import gtin_check_digit
from channel_control.distributors import credentials as distributor_credentials
from channel_control.distributors import services as distributors
from channel_control.distributors.services import Distributor
from channel_control.distributors.territory import Territory
from channel_control.logistics import shipments
from channel_control.logistics.units import RangeInput, UnitChecker
from gateway.geoip_fixture import FIXTURE_PLACES, write_city_database
from kernel.accounts import User, create_user
from kernel.auth import Role
from kernel.errors import NotFound
from kernel.runtime import Runtime, run_job
from kernel.settings import Settings
from kernel.uow import session_scope

__all__ = ["DEMO_GTIN", "print_banner", "seed_demo"]

DEMO_GTIN = "09506000134352"
SECOND_GTIN = "0950600013436" + str(gtin_check_digit("0950600013436"))
DEMO_LOT = "L2026-11A"
DEMO_BRAND = "demo"
DEMO_GEOIP = "demo-geoip.mmdb"  # under var/; `make run` points SCANGUARD_GEOIP_DATABASE here
# The demo shipment: codes 100..599 of the active roll go to the Guangdong distributor.
SHIPPED = range(100, 600)
DIVERTED = range(500, 503)  # scanned from a Zhejiang address: a diversion alert opens


def _state_path(settings: Settings) -> Path:
    return settings.var_dir / "demo.json"


def seed_demo(settings: Settings) -> dict[str, Any]:
    """Create the demo data if missing; return (and store) logins and sample URLs."""
    geoip = Path(settings.gateway.geoip_database or settings.var_dir / DEMO_GEOIP)
    if not geoip.exists():
        write_city_database(geoip)
        print(f"demo GeoIP database (fixture ranges, not real geography) written to {geoip}")
    if settings.gateway.geoip_database is None:
        print(f"scans are located only with SCANGUARD_GEOIP_DATABASE={geoip} (make run sets it)")
    path = _state_path(settings)
    known: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    state = run_job(settings, lambda rt: _seed(rt, known))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state, indent=2))
    path.chmod(0o600)
    print(f"demo data ready (brand {DEMO_BRAND!r}); details in {path}")
    return state


Found = TypeVar("Found")


async def _seed(rt: Runtime, known: dict[str, Any]) -> dict[str, Any]:
    keyring = Keyring.from_mapping(rt.settings.auth.code_keyring)
    passwords = dict(known.get("passwords", {}))
    async with session_scope(rt.session_factory) as session:
        brand = await _found(get_brand_by_slug(session, DEMO_BRAND))
        fresh = brand is None
        if brand is None:
            brand, _ = await create_brand(
                session,
                None,
                slug=DEMO_BRAND,
                name="Demo Tea Co.",
                suspicious_distinct_devices=3,
                keyring=keyring.kids,
            )
        await _users(session, brand, passwords)
        tea = await _product(session, brand, DEMO_GTIN, "Jasmine Green Tea 500 ml", None)
        await _product(session, brand, SECOND_GTIN, "Oolong Gift Box (scratch-off PIN)", 6)
        batch = await _batch(session, brand, tea)
        active = await _roll(
            session, keyring, brand, tea, batch, "demo-active", 1_000, activate=True
        )
        inactive = await _roll(
            session, keyring, brand, tea, batch, "demo-inactive", 100, activate=False
        )
        if fresh:
            await void_range(session, None, active, 10, 20, "labels damaged on line 2")

    def code(roll: CodeRoll, seq: int) -> str:
        key = keyring.get(roll.kid)
        assert key is not None
        return encode_code(key, roll.first_index + seq, tea.gtin)

    base = rt.settings.gateway.resolver_base_url
    genuine = code(active, 100)
    forged = genuine[:-1] + ("2" if genuine[-1] != "2" else "3")
    samples: dict[str, str] = {
        "genuine": f"{base}/01/{tea.gtin}/21/{code(active, 100)}",
        "already_scanned": f"{base}/01/{tea.gtin}/21/{code(active, 1)}",
        "suspicious": f"{base}/01/{tea.gtin}/21/{code(active, 2)}",
        "counterfeit": f"{base}/01/{tea.gtin}/21/{forged}",
        "inactive": f"{base}/01/{tea.gtin}/21/{code(inactive, 0)}",
        "void": f"{base}/01/{tea.gtin}/21/{code(active, 10)}",
        "with_lot": f"{base}/01/{tea.gtin}/10/{DEMO_LOT}/21/{code(active, 3)}",
    }
    if fresh:
        await _prescan(rt, samples["already_scanned"], ["demo-phone"])
        await _prescan(rt, samples["suspicious"], [f"clone-{i}" for i in range(5)])
    extra_genuine = [f"{base}/01/{tea.gtin}/21/{code(active, seq)}" for seq in range(101, 105)]
    channel = await _channel(rt, keyring, brand, active, passwords)
    zhejiang = _place_ip("CN-ZJ")
    if fresh:
        for seq in DIVERTED:
            url = f"{base}/01/{tea.gtin}/21/{code(active, seq)}"
            await _prescan(rt, url, [f"zj-shopper-{seq}"], client_ip=zhejiang)
    channel["diverted_scan"] = (
        f"curl -H 'Accept: application/json' -H 'X-Forwarded-For: {zhejiang}' "
        f"{base}/01/{tea.gtin}/21/{code(active, 420)}"
    )
    return {
        "brand": DEMO_BRAND,
        "passwords": passwords,
        "samples": samples,
        "more_genuine": extra_genuine,
        "channel": channel,
    }


async def _users(session: Any, brand: Brand, passwords: dict[str, str]) -> None:
    """The platform admin and the demo brand's admin and viewer (new ones get a password)."""
    for username, role, brand_id in (
        ("platform", Role.PLATFORM_ADMIN, None),
        ("demo-admin", Role.BRAND_ADMIN, brand.id),
        ("demo-viewer", Role.BRAND_VIEWER, brand.id),
    ):
        exists = (
            await session.execute(select(User).where(User.username == username))
        ).scalar_one_or_none()
        if exists is None:
            passwords[username] = secrets.token_urlsafe(12)
            await create_user(
                session,
                None,
                username=username,
                password=passwords[username],
                role=role,
                brand_id=brand_id,
            )


async def _batch(session: Any, brand: Brand, tea: Product) -> Batch:
    """The demo lot of the tea, created if missing."""
    batch = await _found(get_batch_by_lot(session, brand.id, tea.id, DEMO_LOT))
    if batch is None:
        batch = await create_batch(
            session,
            None,
            brand.id,
            product_id=tea.id,
            lot=DEMO_LOT,
            production_date=date(2026, 11, 1),
            expiry_date=date(2027, 11, 1),
            line="Line 2",
        )
    return batch


def _place_ip(region: str) -> str:
    return next(p for p in FIXTURE_PLACES if p.region == region).host()


async def _channel(
    rt: Runtime, keyring: Keyring, brand: Brand, roll: CodeRoll, passwords: dict[str, str]
) -> dict[str, Any]:
    """Two regional distributors, a staff login for the first, and one outbound shipment."""
    made: dict[str, Distributor] = {}
    async with session_scope(rt.session_factory) as session:
        for code, name, region in (
            ("GD-01", "Pearl River Trading (Guangdong)", "CN-GD"),
            ("ZJ-01", "West Lake Distribution (Zhejiang)", "CN-ZJ"),
        ):
            found = await _found(distributors.get_distributor_by_code(session, brand.id, code))
            made[code] = found or await distributors.create_distributor(
                session,
                None,
                brand.id,
                code=code,
                name=name,
                level="regional",
                parent_id=None,
                contact={},
                territory=Territory(regions=frozenset({region})),
            )
        guangdong = made["GD-01"]
        username = "demo-distributor"
        exists = (
            await session.execute(select(User).where(User.username == username))
        ).scalar_one_or_none()
        if exists is None:
            passwords[username] = secrets.token_urlsafe(12)
            await distributor_credentials.create_distributor_user(
                session,
                None,
                brand.id,
                guangdong.id,
                username=username,
                password=passwords[username],
            )
    async with session_scope(rt.session_factory) as session:
        # Idempotent by document number: a second demo run finds the shipment.
        await shipments.create_shipment(
            session,
            UnitChecker(keyring, CodeMetadataService(rt), brand.id),
            shipments.ShipmentRequest(
                document_number="DEMO-OUT-0001",
                kind="outbound",
                from_distributor_id=None,
                to_distributor_id=guangdong.id,
                codes=[],
                ranges=[RangeInput(roll.id, SHIPPED.start, SHIPPED.stop)],
                containers=[],
            ),
            shipments.Actor(),
        )
    return {
        "distributors": {code: str(d.id) for code, d in made.items()},
        "shipment": f"DEMO-OUT-0001: codes {SHIPPED.start}..{SHIPPED.stop - 1} to GD-01",
    }


async def _product(
    session: Any, brand: Brand, gtin: str, name: str, pin_length: int | None
) -> Product:
    product = await _found(get_product_by_gtin(session, brand.id, gtin))
    if product is None:
        product = await create_product(
            session, None, brand.id, gtin=gtin, name=name, pin_length=pin_length
        )
    return product


async def _found(lookup: Awaitable[Found]) -> Found | None:
    """What ``lookup`` finds, or ``None`` where it answers ``NotFound`` (find-or-create)."""
    try:
        return await lookup
    except NotFound:
        return None


async def _roll(
    session: Any,
    keyring: Keyring,
    brand: Brand,
    product: Product,
    batch: Batch,
    key: str,
    count: int,
    *,
    activate: bool,
) -> CodeRoll:
    request = IssueRequest(
        count=count,
        product_id=product.id,
        batch_id=batch.id,
        activate=activate,
        idempotency_key=key,
        note="demo",
    )
    result = await issue_roll(session, keyring, None, brand.id, request)
    return result.roll


async def _prescan(
    rt: Runtime, url: str, devices: list[str], *, client_ip: str | None = None
) -> None:
    """Scan through the real gateway, in process, so the demo shows repeat and clone verdicts
    (and, from ``client_ip``, a located scan: 127.0.0.1 is a trusted proxy)."""
    from admin_api.app import create_app  # the composition root; imported only for seeding

    app = create_app(rt.settings)
    headers = {"X-Forwarded-For": client_ip} if client_ip else {}
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 1))  # type: ignore[arg-type]  # Litestar is an ASGI app
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=transport, base_url="http://demo") as client,
    ):
        for device in devices:
            response = await client.post(
                "/v1/scans", json={"url": url, "device_id": device}, headers=headers
            )
            response.raise_for_status()
        await asyncio.sleep(0)


def print_banner(settings: Settings, host: str, port: int) -> None:
    """What a newcomer needs to click through the demo within a minute."""
    path = _state_path(settings)
    state: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    base = f"http://{host}:{port}"
    lines = [
        "",
        "=" * 78,
        f" scanguard demo on {base}   (API docs: {base}/schema/swagger)",
        "=" * 78,
    ]
    passwords = state.get("passwords", {})
    if passwords:
        lines.append(" Admin logins (POST /v1/admin/auth/login):")
        for user, password in passwords.items():
            lines.append(f"   {user:<12} {password}")
    samples = state.get("samples", {})
    if samples:
        lines.append(
            " Scan these (a browser gets a page; add 'Accept: application/json' for JSON):"
        )
        for verdict, url in samples.items():
            lines.append(f"   {verdict:<16} {url}")
        lines.append(
            "   (each 'genuine' URL is genuine once: scan it again to see 'already_scanned')"
        )
    channel = state.get("channel", {})
    if channel:
        lines.append(
            " Channel: distributor login 'demo-distributor' (POST /v1/distributor/auth/login); "
        )
        lines.append(f"   {channel.get('shipment', '')}; scans from Zhejiang are diverted:")
        lines.append(f"   {channel.get('diverted_scan', '')}")
        lines.append("   alerts: GET /v1/admin/diversion/alerts (as demo-admin)")
    lines.append("=" * 78)
    print("\n".join(lines), flush=True)
