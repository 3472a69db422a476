"""Factories for channel control: distributors (through the real service), committed."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from litestar import Litestar

from anticounterfeit.catalogue.models import Brand
from channel_control.distributors import credentials, services
from channel_control.distributors.models import Distributor
from channel_control.distributors.territory import Territory
from kernel.uow import session_scope
from tests.factories.tenancy import DEFAULT_PASSWORD

__all__ = ["distributor_login", "make_api_key", "make_distributor", "make_distributor_user"]


async def make_distributor(
    app: Litestar,
    brand: Brand,
    *,
    code: str | None = None,
    name: str | None = None,
    level: str = "regional",
    parent: Distributor | None = None,
    regions: tuple[str, ...] = ("CN-GD",),
    contact: dict[str, Any] | None = None,
) -> Distributor:
    """A committed distributor of ``brand`` whose territory is ``regions``."""
    code = code or f"D-{uuid.uuid4().hex[:8].upper()}"
    async with session_scope(app.state.session_factory) as session:
        return await services.create_distributor(
            session,
            None,
            brand.id,
            code=code,
            name=name or f"Distributor {code}",
            level=level,
            parent_id=parent.id if parent is not None else None,
            contact=contact or {},
            territory=Territory(regions=frozenset(regions)),
        )


async def make_distributor_user(
    app: Litestar, distributor: Distributor, *, password: str = DEFAULT_PASSWORD
) -> str:
    """A committed staff account bound to ``distributor``; returns its username."""
    username = f"dist-{uuid.uuid4().hex[:10]}"
    async with session_scope(app.state.session_factory) as session:
        await credentials.create_distributor_user(
            session,
            None,
            distributor.brand_id,
            distributor.id,
            username=username,
            password=password,
        )
    return username


async def make_api_key(app: Litestar, distributor: Distributor, name: str = "scanner") -> str:
    """A committed API key of ``distributor``; returns the secret."""
    async with session_scope(app.state.session_factory) as session:
        created = await credentials.create_api_key(
            session, None, distributor.brand_id, distributor.id, name=name
        )
    return created.secret


async def distributor_login(
    client: httpx.AsyncClient, username: str, password: str = DEFAULT_PASSWORD
) -> dict[str, str]:
    """Log a distributor's staff member in; return the ``Authorization`` header."""
    response = await client.post(
        "/v1/distributor/auth/login", json={"username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
