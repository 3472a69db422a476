"""The brands' configured links (``anticounterfeit.links``) as the resolver's ``BrandLinks``:
for a serialised code, also the code range it falls in (its roll and position, from the MAC
check and the roll metadata cache, both in memory)."""

from __future__ import annotations

from typing import Any

from anticounterfeit.codes.format import verify_code
from anticounterfeit.gs1.digital_link import DigitalLink
from anticounterfeit.links.queries import links_for_item
from gateway.resolver.linkset import Link
from gateway.service import ScanService

__all__ = ["CatalogueBrandLinks"]


class CatalogueBrandLinks:
    """Reads a brand's links for an item in one short read-only session."""

    def __init__(self, session_factory: Any, scans: ScanService) -> None:
        self.session_factory = session_factory
        self.scans = scans

    async def _code_position(self, link: DigitalLink) -> tuple[tuple[Any, int] | None, str | None]:
        """A genuine code's (roll id, position in the roll) and its batch's lot."""
        if link.serial is None:
            return None, link.lot
        decoded = verify_code(self.scans.keyring, link.serial, link.gtin)
        meta = await self.scans.metadata.roll_for(decoded.kid, decoded.index) if decoded else None
        if decoded is None or meta is None or meta.product.gtin != link.gtin:
            return None, link.lot
        batch = meta.state_of(decoded.index).batch
        return (meta.roll_id, decoded.index - meta.first_index), (
            batch.lot if batch is not None else link.lot
        )

    async def links_for(self, link: DigitalLink) -> list[Link]:
        roll, lot = await self._code_position(link)
        async with self.session_factory() as session:
            facts = await links_for_item(session, link.gtin, lot, roll)
        return [
            Link(
                fact.link_type,
                fact.href,
                fact.title,
                fact.media_type,
                (fact.language,) if fact.language else (),
                # a serialised code's default link is its verdict, whatever the brand marks
                default=fact.default and link.serial is None,
            )
            for fact in facts
        ]
