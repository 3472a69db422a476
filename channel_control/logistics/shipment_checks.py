"""The shipment request, who sends it, and the checks of its parties and shape that come
before anything is resolved (``channel_control.logistics.shipments`` runs them first)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from channel_control.distributors import services
from channel_control.distributors.credentials import DistributorPrincipal
from channel_control.logistics.aggregation import ContainerRef
from channel_control.logistics.models import ShipmentKind
from channel_control.logistics.units import RangeInput
from kernel.auth import Principal
from kernel.errors import Forbidden, InvalidInput, NotFound

__all__ = ["MAX_CONTAINERS", "Actor", "ShipmentRequest", "check_parties"]

MAX_CONTAINERS = 10_000


@dataclass(frozen=True, slots=True)
class ShipmentRequest:
    document_number: str
    kind: str
    from_distributor_id: uuid.UUID | None
    to_distributor_id: uuid.UUID | None
    codes: list[str]
    ranges: list[RangeInput]
    containers: list[ContainerRef]
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Actor:
    """Who writes: a brand admin or a distributor's credential."""

    admin: Principal | None = None
    distributor: DistributorPrincipal | None = None


async def check_parties(
    session: AsyncSession, brand_id: uuid.UUID, req: ShipmentRequest, actor: Actor
) -> None:
    kind = req.kind
    if kind not in (ShipmentKind.OUTBOUND, ShipmentKind.TRANSFER, ShipmentKind.RETURN):
        raise InvalidInput(
            "kind must be outbound, transfer or return", code="invalid_kind", field="kind"
        )
    needs_from = kind != ShipmentKind.OUTBOUND
    needs_to = kind != ShipmentKind.RETURN
    for name, value, needed in (
        ("from_distributor_id", req.from_distributor_id, needs_from),
        ("to_distributor_id", req.to_distributor_id, needs_to),
    ):
        if needed and value is None:
            raise InvalidInput(f"a {kind} shipment needs {name}", code="missing_party", field=name)
        if not needed and value is not None:
            raise InvalidInput(
                f"a {kind} shipment has no {name}", code="unexpected_party", field=name
            )
        if value is not None:
            try:
                party = await services.get_distributor(session, brand_id, value)
            except NotFound as exc:
                raise NotFound(exc.detail, code=exc.code, field=name) from exc
            if party.deactivated_at is not None and name == "to_distributor_id":
                raise InvalidInput(
                    "the distributor is deactivated", code="distributor_inactive", field=name
                )
    if req.from_distributor_id is not None and req.from_distributor_id == req.to_distributor_id:
        raise InvalidInput(
            "a transfer goes to another distributor", code="same_party", field="to_distributor_id"
        )
    if actor.distributor is not None:
        if kind == ShipmentKind.OUTBOUND:
            raise Forbidden(
                "only the brand ships outbound", code="outbound_by_brand_only", field="kind"
            )
        if req.from_distributor_id != actor.distributor.distributor_id:
            raise Forbidden(
                "a distributor ships only goods it holds itself",
                code="not_your_goods",
                field="from_distributor_id",
            )
    if not (req.codes or req.ranges or req.containers):
        raise InvalidInput("the shipment carries nothing", code="empty_shipment", field="codes")
    if len(req.containers) > MAX_CONTAINERS:
        raise InvalidInput("too many containers", code="too_many", field="containers")
    document = req.document_number.strip()
    if not document or len(document) > 100 or document != req.document_number:
        raise InvalidInput(
            "document_number must be 1-100 characters without surrounding spaces",
            code="invalid_document_number",
            field="document_number",
        )
