"""Seed a database for load tests and write the code classes the scenarios consume.

Run::

    python -m loadtests.seed --out loadtests/data.json [--products 5 --codes 20000]

Settings come from ``SCANGUARD_*`` (``Settings.from_env``): seed the same database, with the
same code keys, as the server under test. Everything is created through the services (no raw
inserts): a brand with its code key, a brand-admin user, ``--products`` products each with a
batch and an activated roll of ``--codes`` codes, the last codes of each roll voided, and one
roll issued but never activated. The JSON file lists ``[gtin, code]`` pairs per class:

- ``fresh``: never scanned; a scan of one is a genuine first scan (use each once);
- ``repeat``: the scenario (or the bench) scans them once before the run, then expects
  ``already_scanned`` (or ``suspicious`` once many devices scanned it);
- ``forged``: a genuine code with its MAC altered: ``counterfeit``;
- ``inactive``: from the roll that was never activated: ``inactive``;
- ``void``: from the voided ranges: ``void``.

Channel: one regional distributor per region of ``SEED_REGIONS`` (territory = that region), each
with a staff login, and each product's roll (fresh and repeat codes) shipped to one of them
(product n to distributor n mod k, document ``LT-<n>``). Consumer scans come from client IPs of
several regions (``loadtests/regions.py``), so with a GeoIP database in the server most scans of
a product land outside its distributor's territory: diversion signals and alerts on the scan
path, as on a promotion day. The JSON lists, per distributor, its login and the GTINs shipped
to it (the distributor scenario checks codes it received and codes it did not).
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from anticounterfeit.catalogue import services as catalogue
from anticounterfeit.codes import services as rolls
from anticounterfeit.codes.format import ALPHABET, CodeKey, Keyring, iter_codes, verify_code
from anticounterfeit.codes.metadata import CodeMetadataService
from anticounterfeit.gs1.gtin import gtin_check_digit
from channel_control.distributors import credentials, services
from channel_control.distributors.territory import Territory
from channel_control.logistics import shipments
from channel_control.logistics.units import RangeInput, UnitChecker
from kernel import accounts
from kernel.auth import Role
from kernel.runtime import Runtime, run_job
from kernel.settings import Settings
from kernel.uow import session_scope

__all__ = ["CODE_CLASSES", "SeedPlan", "forge", "main", "seed"]

CODE_CLASSES = ("fresh", "repeat", "forged", "inactive", "void")
SEED_REGIONS = ("CN-GD", "CN-ZJ", "CN-SH", "CN-BJ")
VOID_REASON = "load test: damaged labels"

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class SeedPlan:
    """How much to create. Per product: ``codes`` issued, of which the last ``void`` are
    voided and the ``repeat`` before them reserved for repeat scans; the rest are fresh."""

    products: int = 5
    codes: int = 20_000
    repeat: int = 200
    void: int = 100
    inactive: int = 500
    forged: int = 1_000
    distributors: int = len(SEED_REGIONS)
    brand_slug: str = field(default_factory=lambda: f"loadtest-{secrets.token_hex(4)}")

    def __post_init__(self) -> None:
        if self.products < 1:
            raise ValueError("products must be at least 1")
        if self.codes <= self.repeat + self.void:
            raise ValueError("codes must exceed repeat + void (no fresh codes otherwise)")
        if not 0 <= self.distributors <= len(SEED_REGIONS):
            raise ValueError(f"distributors must be in 0..{len(SEED_REGIONS)}")


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _gtin14(n: int) -> str:
    body = f"095{secrets.randbelow(10**8):08d}{n % 100:02d}"  # 13 digits: a GTIN-13 as GTIN-14
    return body + str(gtin_check_digit(body))


def forge(keyring: Keyring, gtin: str, code: str) -> str:
    """A code of the right shape whose MAC does not verify (one character changed)."""
    for pos in range(len(code) - 1, -1, -1):
        for ch in ALPHABET:
            if ch == code[pos]:
                continue
            candidate = code[:pos] + ch + code[pos + 1 :]
            if verify_code(keyring, candidate, gtin) is None:
                return candidate
    raise ValueError(f"could not forge a variant of {code}")  # pragma: no cover - 42-bit MAC


def _codes(key: CodeKey, gtin: str, first_index: int, seqs: range) -> list[list[str]]:
    return [[gtin, code] for _, code in iter_codes(key, gtin, first_index + seqs.start, len(seqs))]


async def seed(runtime: Runtime, plan: SeedPlan, *, progress: Progress = _stderr) -> dict[str, Any]:
    """Create the data set through the services; return the JSON-able description."""
    settings = runtime.settings
    keyring = Keyring.from_mapping(settings.auth.code_keyring)
    started = time.perf_counter()
    password = secrets.token_urlsafe(18)
    brand, kid, admin = await _seed_brand(runtime, plan, password)
    progress(f"seed: brand {brand.slug} (kid {kid}), admin user {admin.username}")
    key = keyring.get(kid)
    if key is None:
        raise RuntimeError(f"code key {kid} is not in SCANGUARD_CODE_KEYS")

    distributors = await _seed_distributors(runtime, brand.id, plan, password)
    checker = UnitChecker(keyring, CodeMetadataService(runtime), brand.id)
    classes: dict[str, list[list[str]]] = {name: [] for name in CODE_CLASSES}
    products: list[dict[str, Any]] = []
    for n in range(plan.products):
        product, roll = await _seed_product(runtime, keyring, brand.id, plan, n)
        if distributors:
            receiver = distributors[n % len(distributors)]
            await _ship(runtime, checker, plan, n, roll, receiver)
            receiver["gtins"].append(product.gtin)
            progress(
                f"seed: shipped {plan.codes - plan.void} codes of {product.gtin} "
                f"to {receiver['code']}"
            )
        _add_product_codes(classes, key, product.gtin, roll.first_index, plan)
        products.append(
            {
                "id": str(product.id),
                "gtin": product.gtin,
                "name": product.name,
                "roll_id": str(roll.id),
            }
        )
        progress(
            f"seed: product {n + 1}/{plan.products} {product.gtin}: roll of {plan.codes} codes "
            f"activated, {plan.void} voided"
        )

    classes["inactive"] = await _seed_inactive(runtime, keyring, key, brand.id, plan, products[0])
    progress(f"seed: inactive roll of {plan.inactive} codes for {products[0]['gtin']}")
    classes["forged"] = _forged(keyring, classes, plan)
    progress(
        "seed: "
        + ", ".join(f"{name} {len(classes[name])}" for name in CODE_CLASSES)
        + f" in {time.perf_counter() - started:.1f} s"
    )
    return {
        "version": 1,
        "brand": {"id": str(brand.id), "slug": brand.slug, "name": brand.name, "kid": kid},
        "admin": {"username": admin.username, "password": password},
        "products": products,
        "distributors": distributors,
        "codes": classes,
    }


async def _seed_brand(runtime: Runtime, plan: SeedPlan, password: str) -> tuple[Any, int, Any]:
    """The load-test brand and its admin user: (brand, key id, user)."""
    async with session_scope(runtime.session_factory) as session:
        brand, kid = await catalogue.create_brand(
            session,
            None,
            slug=plan.brand_slug,
            name=f"Load test {plan.brand_slug[-8:]}",
            suspicious_distinct_devices=None,
            keyring=runtime.settings.auth.code_keyring.keys(),
        )
        admin = await accounts.create_user(
            session,
            None,
            username=f"{plan.brand_slug}-admin",
            password=password,
            role=Role.BRAND_ADMIN,
            brand_id=brand.id,
        )
    return brand, kid, admin


async def _seed_product(
    runtime: Runtime, keyring: Keyring, brand_id: uuid.UUID, plan: SeedPlan, n: int
) -> tuple[Any, Any]:
    """Product ``n`` with a batch and an activated roll whose last ``void`` codes are void."""
    async with session_scope(runtime.session_factory) as session:
        product = await catalogue.create_product(
            session,
            None,
            brand_id,
            gtin=_gtin14(n),
            name=f"Load test product {n + 1}",
            pin_length=None,
        )
        batch = await catalogue.create_batch(
            session,
            None,
            brand_id,
            product_id=product.id,
            lot=f"LT{n + 1:02d}{secrets.token_hex(2).upper()}",
            production_date=date(2025, 1, 15),
        )
        issued = await rolls.issue_roll(
            session,
            keyring,
            None,
            brand_id,
            rolls.IssueRequest(
                count=plan.codes, product_id=product.id, batch_id=batch.id, activate=True
            ),
        )
        roll = issued.roll
        await rolls.void_range(session, None, roll, plan.codes - plan.void, plan.codes, VOID_REASON)
    return product, roll


async def _ship(
    runtime: Runtime,
    checker: UnitChecker,
    plan: SeedPlan,
    n: int,
    roll: Any,
    receiver: dict[str, Any],
) -> None:
    """Ship product ``n``'s non-void codes to ``receiver``."""
    async with session_scope(runtime.session_factory) as session:
        await shipments.create_shipment(
            session,
            checker,
            shipments.ShipmentRequest(
                document_number=f"LT-{n + 1}",
                kind="outbound",
                from_distributor_id=None,
                to_distributor_id=uuid.UUID(receiver["id"]),
                codes=[],
                ranges=[RangeInput(roll.id, 0, plan.codes - plan.void)],
                containers=[],
            ),
            shipments.Actor(),
        )


def _add_product_codes(
    classes: dict[str, list[list[str]]], key: CodeKey, gtin: str, first: int, plan: SeedPlan
) -> None:
    fresh_end = plan.codes - plan.repeat - plan.void
    classes["fresh"].extend(_codes(key, gtin, first, range(0, fresh_end)))
    classes["repeat"].extend(_codes(key, gtin, first, range(fresh_end, fresh_end + plan.repeat)))
    classes["void"].extend(_codes(key, gtin, first, range(plan.codes - plan.void, plan.codes)))


async def _seed_inactive(
    runtime: Runtime,
    keyring: Keyring,
    key: CodeKey,
    brand_id: uuid.UUID,
    plan: SeedPlan,
    first: dict[str, Any],
) -> list[list[str]]:
    """A roll of ``inactive`` codes for the first product, never activated."""
    async with session_scope(runtime.session_factory) as session:
        inactive = await rolls.issue_roll(
            session,
            keyring,
            None,
            brand_id,
            rolls.IssueRequest(
                count=plan.inactive, product_id=uuid.UUID(first["id"]), activate=False
            ),
        )
    return _codes(key, first["gtin"], inactive.roll.first_index, range(plan.inactive))


def _forged(
    keyring: Keyring, classes: dict[str, list[list[str]]], plan: SeedPlan
) -> list[list[str]]:
    step = max(1, len(classes["fresh"]) // max(1, plan.forged))
    # Forge from codes spread over all products, but never from one we hand out as fresh
    # (a forged variant shares nothing with its source on the server, so this is only tidy).
    sources = classes["repeat"] or classes["fresh"]
    return [
        [gtin, forge(keyring, gtin, code)]
        for gtin, code in (sources[(i * step) % len(sources)] for i in range(plan.forged))
    ]


async def _seed_distributors(
    runtime: Runtime, brand_id: uuid.UUID, plan: SeedPlan, password: str
) -> list[dict[str, Any]]:
    """One regional distributor per seed region, each with a staff login."""
    out: list[dict[str, Any]] = []
    for region in SEED_REGIONS[: plan.distributors]:
        async with session_scope(runtime.session_factory) as session:
            distributor = await services.create_distributor(
                session,
                None,
                brand_id,
                code=f"D-{region}",
                name=f"Load test distributor {region}",
                level="regional",
                parent_id=None,
                contact={},
                territory=Territory(regions=frozenset({region})),
            )
            user, _ = await credentials.create_distributor_user(
                session,
                None,
                brand_id,
                distributor.id,
                username=f"{plan.brand_slug}-{region.lower()}",
                password=password,
            )
        out.append(
            {
                "id": str(distributor.id),
                "code": distributor.code,
                "region": region,
                "username": user.username,
                "password": password,
                "gtins": [],
            }
        )
    return out


def write_data(data: dict[str, Any], out: Path) -> None:
    """Write the data file (0600: it holds the load-test admin's password)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
    out.chmod(0o600)


def main(argv: list[str] | None = None) -> int:
    defaults = SeedPlan()
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.seed",
        description="Seed a load-test data set and write its code classes as JSON.",
    )
    parser.add_argument("--out", type=Path, default=Path("loadtests/data.json"))
    parser.add_argument("--products", type=int, default=defaults.products)
    parser.add_argument("--codes", type=int, default=defaults.codes, help="per product")
    parser.add_argument("--repeat", type=int, default=defaults.repeat, help="per product")
    parser.add_argument("--void", type=int, default=defaults.void, help="per product")
    parser.add_argument("--inactive", type=int, default=defaults.inactive)
    parser.add_argument("--forged", type=int, default=defaults.forged)
    parser.add_argument(
        "--distributors", type=int, default=defaults.distributors, help="one per region"
    )
    args = parser.parse_args(argv)
    plan = SeedPlan(
        products=args.products,
        codes=args.codes,
        repeat=args.repeat,
        void=args.void,
        inactive=args.inactive,
        forged=args.forged,
        distributors=args.distributors,
    )
    settings = Settings.from_env()

    async def job(runtime: Runtime) -> dict[str, Any]:
        return await seed(runtime, plan)

    data = run_job(settings, job)
    write_data(data, args.out)
    _stderr(f"seed: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
