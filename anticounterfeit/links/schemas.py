"""Request and response bodies of the brand links API. Shapes and bounds here (400 naming the
field); the rules that need more (https target, known link type, ownership, ranges inside a
roll) are the services' (422 / 404)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import UNSET, Meta, UnsetType

from anticounterfeit.links.models import BrandLink
from kernel.pagination import Page

__all__ = ["LinkCreate", "LinkOut", "LinkPage", "LinkUpdate"]

LinkType = Annotated[str, Meta(min_length=1, max_length=120, description="e.g. gs1:pip")]
Href = Annotated[str, Meta(min_length=9, max_length=1000, description="an https URL")]
Title = Annotated[str, Meta(min_length=1, max_length=200)]
Language = Annotated[
    str,
    Meta(max_length=35, pattern=r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$", description="BCP 47"),
]
MediaType = Annotated[str, Meta(max_length=100, pattern=r"^[\w.+-]+/[\w.+-]+$")]
Seq = Annotated[int, Meta(ge=0)]


class LinkCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A link for a product; with ``batch_id`` for one batch; with ``roll_id`` and
    ``first_seq``..``last_seq`` (positions in the roll, inclusive) for a code range."""

    product_id: uuid.UUID
    batch_id: uuid.UUID | None = None
    roll_id: uuid.UUID | None = None
    first_seq: Seq | None = None
    last_seq: Seq | None = None
    link_type: LinkType
    href: Href
    title: Title
    language: Language | None = None
    media_type: MediaType | None = None
    default: bool = False


class LinkUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    link_type: LinkType | UnsetType = UNSET
    href: Href | UnsetType = UNSET
    title: Title | UnsetType = UNSET
    language: Language | UnsetType | None = UNSET
    media_type: MediaType | UnsetType | None = UNSET
    default: bool | UnsetType = UNSET


class LinkOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    brand_id: uuid.UUID
    scope: str  # product | batch | code_range
    product_id: uuid.UUID
    batch_id: uuid.UUID | None
    roll_id: uuid.UUID | None
    first_seq: int | None
    last_seq: int | None
    link_type: str  # CURIE, e.g. gs1:pip
    href: str
    title: str
    language: str | None
    media_type: str | None
    default: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, link: BrandLink) -> LinkOut:
        scope = "code_range" if link.roll_id else ("batch" if link.batch_id else "product")
        return cls(
            id=link.id,
            brand_id=link.brand_id,
            scope=scope,
            product_id=link.product_id,
            batch_id=link.batch_id,
            roll_id=link.roll_id,
            first_seq=link.first_seq,
            last_seq=link.last_seq,
            link_type=f"gs1:{link.link_type}",
            href=link.href,
            title=link.title,
            language=link.language,
            media_type=link.media_type,
            default=link.is_default,
            created_at=link.created_at,
            updated_at=link.updated_at,
        )


class LinkPage(Page[LinkOut], kw_only=True):
    """One page of links."""

    items: list[LinkOut]
