"""Factories for channel control: distributors (through the real service), committed."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Litestar

from anticounterfeit.models import Brand
from channel_control import services
from channel_control.models import Distributor
from channel_control.territory import Territory
from kernel.db import session_scope

__all__ = ["make_distributor"]


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
