"""Channel-control API: the brand's distributors and their territories; ``ROUTES`` also
carries the distributor identity routes (``distributor_routes``).

Scoped like every brand route (``catalogue_routes.scoped_dependencies``): brand admins
write, brand viewers read, another brand's distributor is a 404.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from channel_control.distributors import services
from channel_control.distributors.access_routes import ROUTES as DISTRIBUTOR_IDENTITY_ROUTES
from channel_control.distributors.schemas import (
    DistributorCreate,
    DistributorOut,
    DistributorPage,
    DistributorUpdate,
    contact_of,
    to_territory,
)
from channel_control.diversion.routes import ROUTES as DIVERSION_ROUTES
from channel_control.logistics.routes import ROUTES as SHIPPING_ROUTES
from kernel.guards import BRAND_READ, BRAND_WRITE
from kernel.pagination import Limit, Offset
from kernel.tenancy import SECURITY, ActingBrand, Caller, Db, scoped_dependencies
from kernel.uow import after_commit

__all__ = ["ROUTES", "DistributorController"]


class DistributorController(Controller):
    path = "/v1/admin/distributors"
    tags = ("channel",)
    security = SECURITY
    dependencies = scoped_dependencies()

    @post("/", status_code=201, guards=[BRAND_WRITE])
    async def create_distributor(
        self,
        data: JSONBody[DistributorCreate],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
    ) -> DistributorOut:
        """Add a distributor (national, regional or retailer) with its territory."""
        distributor = await services.create_distributor(
            db,
            principal,
            acting_brand,
            code=data.code,
            name=data.name,
            level=data.level,
            parent_id=data.parent_id,
            contact=contact_of(data.contact),
            territory=to_territory(data.territory),
        )
        return DistributorOut.of(distributor)

    @get("/", guards=[BRAND_READ])
    async def list_distributors(
        self,
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        level: FromQuery[Literal["national", "regional", "retailer"] | None] = None,
        parent_id: FromQuery[uuid.UUID | None] = None,
        q: Annotated[
            str | None, QueryParameter(max_length=200, description="code or name contains")
        ] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> DistributorPage:
        """List the brand's distributors by code; filter by level, parent or text."""
        rows, total = await services.list_distributors(
            db, acting_brand, level=level, parent_id=parent_id, q=q, limit=limit, offset=offset
        )
        return DistributorPage(
            items=[DistributorOut.of(d) for d in rows], total=total, limit=limit, offset=offset
        )

    @get("/{distributor_id:uuid}", guards=[BRAND_READ])
    async def get_distributor(
        self,
        distributor_id: FromPath[uuid.UUID],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
    ) -> DistributorOut:
        """One of the brand's distributors."""
        return DistributorOut.of(await services.get_distributor(db, acting_brand, distributor_id))

    @patch("/{distributor_id:uuid}", guards=[BRAND_WRITE])
    async def update_distributor(
        self,
        request: Request[Any, Any, Any],
        distributor_id: FromPath[uuid.UUID],
        data: JSONBody[DistributorUpdate],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
    ) -> DistributorOut:
        """Change a distributor; ``active: false`` deactivates it (its credentials stop)."""
        changes: dict[str, Any] = {
            name: value
            for name in data.__struct_fields__
            if (value := getattr(data, name)) is not msgspec.UNSET
        }
        if "territory" in changes:
            changes["territory"] = to_territory(changes["territory"])
        if "contact" in changes:
            changes["contact"] = contact_of(changes["contact"])
        distributor = await services.update_distributor(
            db, principal, acting_brand, distributor_id, changes
        )
        if "territory" in changes or "name" in changes:
            # The scan path caches destinations with their territory: drop them, after the
            # commit (else a scan in between could cache the old territory again).
            after_commit(db, lambda: request.app.state.destinations.invalidate_brand(acting_brand))
        return DistributorOut.of(distributor)


ROUTES: list[Any] = [
    DistributorController,
    *DISTRIBUTOR_IDENTITY_ROUTES,
    *DIVERSION_ROUTES,
    *SHIPPING_ROUTES,
]
