"""Counterfeit tallies a process could not write are replayed from its journal, exactly once."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from gateway.counterfeits import journal_dir_for
from kernel.settings import Settings
from tests.conftest import running_app
from tests.factories.tenancy import brand_admin, make_product


async def _forge(client: httpx.AsyncClient, gtin: str, tails: str) -> None:
    for tail in tails:
        response = await client.get(
            f"/01/{gtin}/21/{'A' * 19}{tail}", headers={"Accept": "application/json"}
        )
        assert response.json()["verdict"] == "counterfeit"


async def _attempts(client: httpx.AsyncClient, headers: dict[str, str]) -> list[int]:
    response = await client.get("/v1/admin/counterfeit-attempts", headers=headers)
    assert response.status_code == 200, response.text
    return [item["count"] for item in response.json()["items"]]


def _unreachable(settings: Settings, tmp_path: Path) -> async_sessionmaker[AsyncSession]:
    if settings.database.url.startswith("sqlite"):
        url = f"sqlite+aiosqlite:///{tmp_path}/missing-dir/gone.db"
    else:
        url = settings.database.url.replace("@127.0.0.1:5432/", "@127.0.0.1:1/")
    return async_sessionmaker(create_async_engine(url))


async def test_tallies_a_stopped_process_could_not_write_are_replayed_once(
    settings: Settings, tmp_path: Path
) -> None:
    async with running_app(settings) as (app, client):
        brand, headers = await brand_admin(app, client)
        product = await make_product(app, brand)
        await _forge(client, product.gtin, "23")
        await app.state.scans.counterfeits.flush()  # written: its segment is gone
        await _forge(client, product.gtin, "456")
        down = _unreachable(settings, tmp_path)
        app.state.scans.counterfeits.session_factory = down  # the last flush fails
    journal = journal_dir_for(settings)
    assert len(list(journal.glob("*.seg"))) == 2  # the unwritten one, the empty current one

    async with running_app(settings) as (app, client):
        assert await _attempts(client, headers) == [5]
        assert app.state.scans.counterfeits.replayed == 3
    assert list(journal.glob("*.seg")) == []
    async with running_app(settings) as (app, client):
        assert await _attempts(client, headers) == [5]  # nothing replayed twice


async def test_a_segment_whose_commit_landed_is_not_replayed(settings: Settings) -> None:
    async with running_app(settings) as (app, client):
        brand, headers = await brand_admin(app, client)
        product = await make_product(app, brand)
        await _forge(client, product.gtin, "23")
        [path] = (journal_dir_for(settings)).glob("*.seg")
        lines = path.read_bytes()
        await app.state.scans.counterfeits.flush()
        path.write_bytes(lines)  # as if the process died after the COMMIT, before the unlink
    assert len(list((journal_dir_for(settings)).glob("*.seg"))) == 1

    async with running_app(settings) as (app, client):
        assert await _attempts(client, headers) == [2]
