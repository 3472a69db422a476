"""Brand link reads: the admin list, one link, and the resolver's question "which links cover
this item" (``links_for_item``, answered as plain facts, not rows)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from anticounterfeit.catalogue.models import Batch, Product
from anticounterfeit.links.models import BrandLink
from kernel.errors import NotFound
from kernel.pagination import fetch_page

__all__ = ["LinkFacts", "get_link", "links_for_item", "list_links"]


@dataclass(frozen=True, slots=True)
class LinkFacts:
    """A configured link as the resolver uses it (``scope``: code_range, batch, product)."""

    scope: str
    link_type: str
    href: str
    title: str
    language: str | None
    media_type: str | None
    default: bool


async def get_link(session: AsyncSession, brand_id: uuid.UUID, link_id: uuid.UUID) -> BrandLink:
    """The link if it belongs to the brand; 404 otherwise (no existence leak across brands)."""
    link = await session.get(BrandLink, link_id)
    if link is None or link.brand_id != brand_id:
        raise NotFound("link not found", code="link_not_found")
    return link


async def list_links(
    session: AsyncSession,
    brand_id: uuid.UUID,
    *,
    product_id: uuid.UUID | None,
    batch_id: uuid.UUID | None,
    limit: int,
    offset: int,
) -> tuple[list[BrandLink], int]:
    """One page of the brand's links, oldest first, optionally of one product or batch."""
    query = select(BrandLink).where(BrandLink.brand_id == brand_id)
    if product_id is not None:
        query = query.where(BrandLink.product_id == product_id)
    if batch_id is not None:
        query = query.where(BrandLink.batch_id == batch_id)
    query = query.order_by(BrandLink.created_at, BrandLink.id)
    return await fetch_page(session, query, limit=limit, offset=offset)


_RANK = {"code_range": 0, "batch": 1, "product": 2}


async def links_for_item(
    session: AsyncSession,
    gtin: str,
    lot: str | None,
    roll: tuple[uuid.UUID, int] | None,
) -> list[LinkFacts]:
    """Links covering the item: the product's (by GTIN), its batch's (by ``lot``) and a code
    range's (``roll``: roll id and the code's position in it), most specific first."""
    covers = [and_(BrandLink.batch_id.is_(None), BrandLink.roll_id.is_(None))]
    if lot is not None:
        covers.append(BrandLink.batch_id.in_(select(Batch.id).where(Batch.lot == lot)))
    if roll is not None:
        roll_id, seq = roll
        covers.append(
            and_(
                BrandLink.roll_id == roll_id, BrandLink.first_seq <= seq, BrandLink.last_seq >= seq
            )
        )
    query = (
        select(BrandLink)
        .join(
            Product,
            and_(Product.id == BrandLink.product_id, Product.brand_id == BrandLink.brand_id),
        )
        .where(Product.gtin == gtin, or_(*covers))
        .order_by(BrandLink.created_at, BrandLink.id)
    )
    facts = [
        LinkFacts(
            scope="code_range" if row.roll_id else ("batch" if row.batch_id else "product"),
            link_type=row.link_type,
            href=row.href,
            title=row.title,
            language=row.language,
            media_type=row.media_type,
            default=row.is_default,
        )
        for row in (await session.execute(query)).scalars()
    ]
    return sorted(facts, key=lambda fact: _RANK[fact.scope])
