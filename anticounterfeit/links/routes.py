"""Brand links admin API: ``/v1/admin/links`` (list, create, read, change, delete).

A brand user manages its own brand's links; a platform admin names the brand in
``X-Scanguard-Brand`` (the acting-brand rule of every brand-scoped route)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, delete, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter

from anticounterfeit.catalogue.schemas import changes_of
from anticounterfeit.links import queries, services
from anticounterfeit.links.schemas import LinkCreate, LinkOut, LinkPage, LinkUpdate
from kernel.guards import BRAND_READ, BRAND_WRITE
from kernel.pagination import Limit, Offset
from kernel.tenancy import SECURITY, ActingBrand, Caller, Db, scoped_dependencies

__all__ = ["ROUTES", "LinkController"]


class LinkController(Controller):
    path = "/v1/admin/links"
    tags = ("links",)
    security = SECURITY
    dependencies = scoped_dependencies()

    @post("/", status_code=201, guards=[BRAND_WRITE])
    async def create_link(
        self, data: JSONBody[LinkCreate], principal: Caller, acting_brand: ActingBrand, db: Db
    ) -> LinkOut:
        """Add a GS1 Digital Link link to a product, one of its batches (``batch_id``) or a
        code range (``roll_id``, ``first_seq``..``last_seq``): ``link_type`` (``gs1:pip``,
        ...), an https ``href``, ``title``, optional ``language`` and ``media_type``, and
        ``default`` (the default link of a product or batch; a serialised code's default stays
        its verdict)."""
        return LinkOut.of(await services.create_link(db, principal, acting_brand, data))

    @get("/", guards=[BRAND_READ])
    async def list_links(
        self,
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        product_id: Annotated[
            uuid.UUID | None, QueryParameter(description="of one product")
        ] = None,
        batch_id: Annotated[uuid.UUID | None, QueryParameter(description="of one batch")] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> LinkPage:
        """The brand's links, oldest first."""
        rows, total = await queries.list_links(
            db, acting_brand, product_id=product_id, batch_id=batch_id, limit=limit, offset=offset
        )
        return LinkPage(
            items=[LinkOut.of(r) for r in rows], total=total, limit=limit, offset=offset
        )

    @get("/{link_id:uuid}", guards=[BRAND_READ])
    async def get_link(
        self, link_id: FromPath[uuid.UUID], principal: Caller, acting_brand: ActingBrand, db: Db
    ) -> LinkOut:
        """One of the brand's links."""
        return LinkOut.of(await queries.get_link(db, acting_brand, link_id))

    @patch("/{link_id:uuid}", guards=[BRAND_WRITE])
    async def update_link(
        self,
        link_id: FromPath[uuid.UUID],
        data: JSONBody[LinkUpdate],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
    ) -> LinkOut:
        """Change a link's type, target, title, language, media type or default flag."""
        link = await services.update_link(db, principal, acting_brand, link_id, changes_of(data))
        return LinkOut.of(link)

    @delete("/{link_id:uuid}", guards=[BRAND_WRITE])
    async def delete_link(
        self, link_id: FromPath[uuid.UUID], principal: Caller, acting_brand: ActingBrand, db: Db
    ) -> None:
        """Remove a link."""
        await services.delete_link(db, principal, acting_brand, link_id)


ROUTES: list[Any] = [LinkController]
