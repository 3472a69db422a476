"""Consumers' claims of code ranges, for traces and recall audiences: the ``ClaimSource`` of
``anticounterfeit.trace.ports`` (this module is that implementation).

A span is ``(kid, first_index, last_index)``, inclusive, as ``queries.claimers_in_range``
takes it; a claim is unique per code.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from loyalty.queries import claimers_in_range

__all__ = ["claimer_openids", "units_claimed"]


async def units_claimed(
    session: AsyncSession, brand_id: uuid.UUID, spans: Sequence[tuple[int, int, int]]
) -> int:
    """Codes of ``spans`` claimed by consumers."""
    total = 0
    for kid, first, last in spans:
        _, count = await claimers_in_range(
            session, brand_id=brand_id, kid=kid, first_index=first, last_index=last, limit=1
        )
        total += count
    return total


async def claimer_openids(
    session: AsyncSession, brand_id: uuid.UUID, spans: Sequence[tuple[int, int, int]]
) -> list[str]:
    """Sorted distinct WeChat openids of consumers who claimed a code of ``spans``."""
    openids: set[str] = set()
    for kid, first, last in spans:
        offset = 0
        while True:
            page, total = await claimers_in_range(
                session,
                brand_id=brand_id,
                kid=kid,
                first_index=first,
                last_index=last,
                limit=500,
                offset=offset,
            )
            openids.update(c.openid for c in page if c.openid)
            offset += len(page)
            if not page or offset >= total:
                break
    return sorted(openids)
