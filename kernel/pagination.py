"""Pagination: the ``limit``/``offset`` parameters every list endpoint takes, and its page."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

import msgspec
from litestar.params import QueryParameter
from sqlalchemy import (
    Select,
    func,
    select,
)
from sqlalchemy.ext.asyncio import (
    AsyncSession,
)

__all__ = ["Limit", "Offset", "Page", "fetch_page"]

T = TypeVar("T")


# The pagination parameters every list endpoint takes.
Limit = Annotated[int, QueryParameter(ge=1, le=200, description="page size (1..200)")]


Offset = Annotated[int, QueryParameter(ge=0, le=2**63 - 1, description="rows to skip")]


class Page(msgspec.Struct, Generic[T], kw_only=True):
    """One page of a list endpoint; ``total`` counts all rows matching the filters."""

    items: list[T]
    total: int
    limit: int
    offset: int


async def fetch_page(
    session: AsyncSession, query: Select[Any], *, limit: int, offset: int
) -> tuple[list[Any], int]:
    """One page of ``query``'s entities and the count of all rows it matches."""
    total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = (await session.execute(query.limit(limit).offset(offset))).scalars().all()
    return list(rows), int(total or 0)
