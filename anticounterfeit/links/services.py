"""Brand link writes: create, change, delete, each audited. Tenant-scoped: every row read or
written belongs to ``brand_id`` (another brand's product, batch, roll or link is a 404)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from anticounterfeit.catalogue.queries import get_batch, get_product
from anticounterfeit.codes.queries import get_roll
from anticounterfeit.gs1.vocabulary import parse_link_type
from anticounterfeit.links.models import BrandLink
from anticounterfeit.links.queries import get_link
from anticounterfeit.links.schemas import LinkCreate
from kernel.audit import record_audit
from kernel.auth import Principal
from kernel.db import utcnow
from kernel.errors import InvalidInput, NotFound

__all__ = ["create_link", "delete_link", "update_link"]


def _link_type(value: str) -> str:
    name = parse_link_type(value)
    if name is None or name in ("defaultLink", "defaultLinkMulti"):
        raise InvalidInput(
            f"{value!r} is not a GS1 link type (use gs1:pip, gs1:recallStatus, ...; mark the "
            "default with default=true)",
            code="unknown_link_type",
            field="link_type",
        )
    return name


def _https(href: str) -> str:
    """Redirect targets are https URLs: a resolver must not send consumers to plain http."""
    try:
        parts = urlsplit(href)
    except ValueError:
        parts = None
    if parts is None or parts.scheme != "https" or not parts.hostname or " " in href:
        raise InvalidInput("href must be an https URL", code="invalid_href", field="href")
    return href


async def _check_scope(session: AsyncSession, brand_id: uuid.UUID, data: LinkCreate) -> None:
    try:
        product = await get_product(session, brand_id, data.product_id)
    except NotFound as exc:
        raise NotFound("product not found", code="product_not_found", field="product_id") from exc
    if data.batch_id is not None and data.roll_id is not None:
        raise InvalidInput(
            "a link is for a batch or a code range, not both", code="invalid_scope", field="roll_id"
        )
    if data.batch_id is not None:
        try:
            batch = await get_batch(session, brand_id, data.batch_id)
        except NotFound as exc:
            raise NotFound("batch not found", code="batch_not_found", field="batch_id") from exc
        if batch.product_id != product.id:
            raise InvalidInput(
                "the batch is not of this product", code="invalid_scope", field="batch_id"
            )
    ranged = (data.roll_id, data.first_seq, data.last_seq)
    if any(v is not None for v in ranged) and any(v is None for v in ranged):
        raise InvalidInput(
            "a code range needs roll_id, first_seq and last_seq",
            code="invalid_scope",
            field="roll_id",
        )
    if data.roll_id is not None and data.first_seq is not None and data.last_seq is not None:
        try:
            roll = await get_roll(session, brand_id, data.roll_id)
        except NotFound as exc:
            raise NotFound("roll not found", code="roll_not_found", field="roll_id") from exc
        if roll.product_id != product.id:
            raise InvalidInput(
                "the roll is not of this product", code="invalid_scope", field="roll_id"
            )
        if not data.first_seq <= data.last_seq < roll.count:
            raise InvalidInput(
                f"the range must satisfy 0 <= first_seq <= last_seq < {roll.count}",
                code="invalid_scope",
                field="last_seq",
            )


def _details(link: BrandLink) -> dict[str, Any]:
    return {
        "product_id": str(link.product_id),
        "batch_id": str(link.batch_id) if link.batch_id else None,
        "roll_id": str(link.roll_id) if link.roll_id else None,
        "link_type": link.link_type,
        "href": link.href,
        "language": link.language,
        "default": link.is_default,
    }


async def create_link(
    session: AsyncSession, actor: Principal | None, brand_id: uuid.UUID, data: LinkCreate
) -> BrandLink:
    """Add a link to a product, batch or code range of the brand."""
    link_type = _link_type(data.link_type)
    href = _https(data.href)
    await _check_scope(session, brand_id, data)
    now = utcnow()
    link = BrandLink(
        id=uuid.uuid4(),
        brand_id=brand_id,
        product_id=data.product_id,
        batch_id=data.batch_id,
        roll_id=data.roll_id,
        first_seq=data.first_seq,
        last_seq=data.last_seq,
        link_type=link_type,
        href=href,
        title=data.title,
        language=data.language,
        media_type=data.media_type,
        is_default=data.default,
        created_at=now,
        updated_at=now,
    )
    session.add(link)
    await session.flush()
    record_audit(
        session,
        actor,
        "link.create",
        target_type="link",
        target_id=link.id,
        brand_id=brand_id,
        details=_details(link),
    )
    return link


async def update_link(
    session: AsyncSession,
    actor: Principal | None,
    brand_id: uuid.UUID,
    link_id: uuid.UUID,
    changes: Mapping[str, Any],
) -> BrandLink:
    """Change a link's type, target, title, language, media type or default flag (its scope
    stays: delete and re-create to move it)."""
    link = await get_link(session, brand_id, link_id)
    for key, value in changes.items():
        if key == "link_type":
            link.link_type = _link_type(value)
        elif key == "href":
            link.href = _https(value)
        elif key == "title":
            link.title = value
        elif key == "default":
            link.is_default = bool(value)
        elif key in ("language", "media_type"):
            setattr(link, key, value)
    link.updated_at = utcnow()
    await session.flush()
    record_audit(
        session,
        actor,
        "link.update",
        target_type="link",
        target_id=link.id,
        brand_id=brand_id,
        details={"changed": sorted(changes), **_details(link)},
    )
    return link


async def delete_link(
    session: AsyncSession, actor: Principal | None, brand_id: uuid.UUID, link_id: uuid.UUID
) -> None:
    """Remove a link."""
    link = await get_link(session, brand_id, link_id)
    details = _details(link)
    await session.delete(link)
    await session.flush()
    record_audit(
        session,
        actor,
        "link.delete",
        target_type="link",
        target_id=link_id,
        brand_id=brand_id,
        details=details,
    )
