"""``scanguard codes ...`` run as a real subprocess against the test database."""

from __future__ import annotations

import asyncio
import base64
import csv
import os
import sys
from pathlib import Path

from litestar import Litestar
from sqlalchemy import func, select

from anticounterfeit.codes.format import Keyring, verify_code
from anticounterfeit.codes.models import CodeRangeEvent, CodeRoll
from kernel.settings import Settings
from tests.factories.codes import add_batch, add_product, setup_brand

REPO = Path(__file__).resolve().parents[2]


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANGUARD_")}
    env.update(
        SCANGUARD_ENV="test",
        SCANGUARD_DATABASE_URL=settings.database.url,
        SCANGUARD_REDIS_URL=settings.redis.url,
        SCANGUARD_REDIS_PREFIX=settings.redis.prefix,
        SCANGUARD_JWT_SECRET=base64.b64encode(settings.auth.jwt_secret).decode(),
        SCANGUARD_CODE_KEYS=",".join(
            f"{kid}:{base64.b64encode(secret).decode()}"
            for kid, secret in settings.auth.code_keyring.items()
        ),
        SCANGUARD_RESOLVER_BASE_URL=settings.gateway.resolver_base_url,
        SCANGUARD_VAR_DIR=str(settings.var_dir),
        SCANGUARD_LOG_LEVEL="WARNING",
    )
    if settings.database.search_path:
        env["SCANGUARD_DATABASE_SCHEMA"] = settings.database.search_path
    return env


async def _cli(settings: Settings, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "admin_api.cli",
        "codes",
        *args,
        cwd=REPO,
        env=_env(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=100)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def _rows(app: Litestar) -> list[CodeRoll]:
    async with app.state.session_factory() as session:
        return list((await session.execute(select(CodeRoll))).scalars())


async def test_issue_then_reexport_identical(app: Litestar, tmp_path: Path) -> None:
    settings: Settings = app.state.settings
    world = await setup_brand(app)
    product = await add_product(app, world.brand)
    await add_batch(app, world.brand, product, lot="CLI7")
    out = tmp_path / "roll.csv"
    code, stdout, stderr = await _cli(
        settings,
        "issue",
        "--product",
        product.gtin[1:],  # GTIN-13 accepted
        "--count",
        "20000",
        "--batch",
        "CLI7",
        "--activate",
        "--workers",
        "2",
        "--brand",
        world.brand.slug,
        "--note",
        "cli test",
        "--out",
        str(out),
    )
    assert code == 0, stderr
    assert "export: 20,000/20,000 codes (100.0%)" in stderr
    assert "codes/s, ETA" in stderr
    (roll,) = await _rows(app)
    assert roll.count == 20_000
    assert roll.note == "cli test"
    assert f"roll {roll.id}: 20,000 codes written to {out}" in stdout
    async with app.state.session_factory() as session:
        events = await session.scalar(select(func.count()).select_from(CodeRangeEvent))
    assert events == 1

    with out.open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["seq", "code", "url"]
    assert len(rows) == 20_001
    keyring: Keyring = app.state.keyring
    indexes = set()
    for i, (seq, code_, url) in enumerate(rows[1:]):
        assert int(seq) == i
        decoded = verify_code(keyring, code_, product.gtin)
        assert decoded is not None
        indexes.add(decoded.index)
        assert url == f"{settings.gateway.resolver_base_url}/01/{product.gtin}/10/CLI7/21/{code_}"
    assert indexes == set(range(roll.first_index, roll.first_index + 20_000))

    again = tmp_path / "again.csv"
    code, stdout, stderr = await _cli(
        settings, "export", "--roll", str(roll.id), "--out", str(again), "--workers", "1"
    )
    assert code == 0, stderr
    assert again.read_bytes() == out.read_bytes()


async def test_activate_void_and_errors(app: Litestar, tmp_path: Path) -> None:
    settings: Settings = app.state.settings
    world = await setup_brand(app)
    product = await add_product(app, world.brand)
    out = tmp_path / "r.csv"
    code, _, stderr = await _cli(
        settings,
        "issue",
        "--product",
        product.gtin,
        "--count",
        "100",
        "--out",
        str(out),
        "--workers",
        "1",
    )
    assert code == 0, stderr
    (roll,) = await _rows(app)
    code, stdout, stderr = await _cli(
        settings, "void", "--roll", str(roll.id), "--from", "10", "--to", "20", "--reason", "bad"
    )
    assert code == 0, stderr
    assert "inactive 90, active 0, void 10" in stdout
    code, stdout, stderr = await _cli(settings, "activate", "--roll", str(roll.id))
    assert code == 0, stderr
    assert "inactive 0, active 90, void 10" in stdout
    code, _, stderr = await _cli(
        settings, "void", "--roll", str(roll.id), "--from", "90", "--to", "101", "--reason", "x"
    )
    assert code != 0
    assert "range_outside_roll (seq_to)" in stderr
    code, _, stderr = await _cli(
        settings,
        "issue",
        "--product",
        product.gtin,
        "--count",
        "5",
        "--brand",
        "nope",
        "--out",
        str(tmp_path / "x.csv"),
    )
    assert code != 0
    assert "belongs to brand" in stderr
    code, _, stderr = await _cli(
        settings,
        "issue",
        "--product",
        "4006381333931",
        "--count",
        "5",
        "--out",
        str(tmp_path / "x.csv"),
    )
    assert code != 0
    assert "unknown_product" in stderr
    assert len(await _rows(app)) == 1
