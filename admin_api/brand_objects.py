"""Who owns which object kind: the ``kernel.tenancy.OwnedIds`` lookups on ``app.state``.

Services of a package that may not import another (loyalty checking a distributor or a
product of the acting brand) reach the owning package's lookup through this mapping, which
only the composition root can assemble.
"""

from __future__ import annotations

from collections.abc import Mapping

from anticounterfeit.catalogue.queries import owned_product_ids
from channel_control.distributors.services import owned_distributor_ids
from kernel.tenancy import OwnedIds

__all__ = ["BRAND_OBJECTS"]

BRAND_OBJECTS: Mapping[str, OwnedIds] = {
    "product": owned_product_ids,
    "distributor": owned_distributor_ids,
}
