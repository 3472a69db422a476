"""What the resolver needs from whoever keeps the brands' links (``anticounterfeit.links``
through the app's composition root): a Protocol, with a null implementation for an app
without configured links."""

from __future__ import annotations

from typing import Protocol

from anticounterfeit.gs1.digital_link import DigitalLink
from gateway.resolver.linkset import Link

__all__ = ["NULL_BRAND_LINKS", "BrandLinks", "NullBrandLinks"]


class BrandLinks(Protocol):
    async def links_for(self, link: DigitalLink) -> list[Link]:
        """The brand's links for the item ``link`` names (product, batch or code range
        links that cover it), most specific first."""
        ...


class NullBrandLinks:
    """No brand links: the resolver offers scanguard's own links only."""

    async def links_for(self, link: DigitalLink) -> list[Link]:
        return []


NULL_BRAND_LINKS = NullBrandLinks()
