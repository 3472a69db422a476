"""Demo data for ``make run``: a brand, logins, products, a batch and codes in every state.

Idempotent: a second run finds what the first made and only prints it again. The demo
pre-scans a few codes through the real gateway (in-process ASGI calls), so the sample URLs
show every verdict. Passwords are random per install and kept in ``var/demo.json``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from admin_api.models import User
from admin_api.users import create_user
from anticounterfeit.catalogue import create_batch, create_brand, create_product
from anticounterfeit.codes import Keyring, encode_code
from anticounterfeit.gtin import gtin_check_digit
from anticounterfeit.models import Batch, Brand, CodeRoll, Product
from anticounterfeit.rolls import IssueRequest, issue_roll, void_range
from kernel.auth import Role
from kernel.db import session_scope
from kernel.runtime import Runtime, run_job
from kernel.settings import Settings

__all__ = ["DEMO_GTIN", "print_banner", "seed_demo"]

DEMO_GTIN = "09506000134352"
SECOND_GTIN = "0950600013436" + str(gtin_check_digit("0950600013436"))
DEMO_LOT = "L2026-11A"
DEMO_BRAND = "demo"


def _state_path(settings: Settings) -> Path:
    return settings.var_dir / "demo.json"


def seed_demo(settings: Settings) -> dict[str, Any]:
    """Create the demo data if missing; return (and store) logins and sample URLs."""
    path = _state_path(settings)
    known: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    state = run_job(settings, lambda rt: _seed(rt, known))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state, indent=2))
    path.chmod(0o600)
    print(f"demo data ready (brand {DEMO_BRAND!r}); details in {path}")
    return state


async def _seed(rt: Runtime, known: dict[str, Any]) -> dict[str, Any]:
    keyring = Keyring.from_mapping(rt.settings.code_keyring)
    passwords = dict(known.get("passwords", {}))
    async with session_scope(rt.session_factory) as session:
        brand = (
            await session.execute(select(Brand).where(Brand.slug == DEMO_BRAND))
        ).scalar_one_or_none()
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
        tea = await _product(session, brand, DEMO_GTIN, "Jasmine Green Tea 500 ml", None)
        await _product(session, brand, SECOND_GTIN, "Oolong Gift Box (scratch-off PIN)", 6)
        batch = (
            await session.execute(
                select(Batch).where(Batch.product_id == tea.id, Batch.lot == DEMO_LOT)
            )
        ).scalar_one_or_none()
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

    base = rt.settings.resolver_base_url
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
    return {
        "brand": DEMO_BRAND,
        "passwords": passwords,
        "samples": samples,
        "more_genuine": extra_genuine,
    }


async def _product(
    session: Any, brand: Brand, gtin: str, name: str, pin_length: int | None
) -> Product:
    product = (
        await session.execute(select(Product).where(Product.gtin == gtin))
    ).scalar_one_or_none()
    if product is None:
        product = await create_product(
            session, None, brand.id, gtin=gtin, name=name, pin_length=pin_length
        )
    assert isinstance(product, Product)
    return product


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


async def _prescan(rt: Runtime, url: str, devices: list[str]) -> None:
    """Scan through the real gateway, in process, so the demo shows repeat and clone verdicts."""
    from admin_api.app import create_app  # the composition root; imported only for seeding

    app = create_app(rt.settings)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 1))  # type: ignore[arg-type]  # Litestar is an ASGI app
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=transport, base_url="http://demo") as client,
    ):
        for device in devices:
            response = await client.post("/v1/scans", json={"url": url, "device_id": device})
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
    lines.append("=" * 78)
    print("\n".join(lines), flush=True)
