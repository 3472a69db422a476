"""The gateway's face on the brand catalogue for packages that sit on it (loyalty's CLI)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from anticounterfeit.catalogue.services import get_brand_by_slug, list_brands
from kernel.errors import NotFound

__all__ = ["brand_slugs"]


async def brand_slugs(
    session: AsyncSession, slug: str | None = None
) -> list[tuple[uuid.UUID, str]]:
    """(id, slug) of every brand in slug order, or of the one brand ``slug`` names ([] when
    there is none)."""
    if slug:
        try:
            brand = await get_brand_by_slug(session, slug)
        except NotFound:
            return []
        return [(brand.id, brand.slug)]
    brands, _total = await list_brands(session, only=None, limit=2**31 - 1, offset=0)
    return sorted(((b.id, b.slug) for b in brands), key=lambda row: row[1])
