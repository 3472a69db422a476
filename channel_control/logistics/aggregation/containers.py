"""Containers: how a request names a case or pallet, and finding or creating one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from anticounterfeit.gs1.sscc import normalize_sscc
from channel_control.logistics.models import (
    Container,
    ContainerKind,
)
from channel_control.logistics.positions import (
    open_aggregations,
)
from channel_control.logistics.units import (
    Failure,
    ItemCode,
    UnitChecker,
)
from kernel.db import utcnow
from kernel.errors import InvalidInput, NotFound

__all__ = [
    "MAX_CODES_PER_CALL",
    "MAX_RANGES_PER_CALL",
    "ContainerRef",
    "container_label",
    "find_container",
    "get_or_create",
]


MAX_CODES_PER_CALL = 10_000


MAX_RANGES_PER_CALL = 1_000


@dataclass(frozen=True, slots=True)
class ContainerRef:
    """A case or pallet: its issued code (Digital Link) or, for a pallet, its SSCC."""

    code: str | None = None
    sscc: str | None = None


def container_label(container: Container) -> str:
    """How people name a container: its SSCC, or ``(01)gtin(21)serial``."""
    if container.sscc:
        return container.sscc
    return f"(01){container.gtin}(21){container.serial}"


async def _container_by_ref(
    session: AsyncSession, checker: UnitChecker, ref: ContainerRef, field: str
) -> tuple[Container | None, ItemCode | None, str | None]:
    """(existing container, the verified code if given by code, the SSCC if given by SSCC)."""
    if (ref.code is None) == (ref.sscc is None):
        raise InvalidInput(
            f"{field} needs exactly one of code or sscc", code="invalid_container", field=field
        )
    if ref.sscc is not None:
        sscc = normalize_sscc(ref.sscc, field=f"{field}.sscc")
        found = await session.scalar(
            select(Container).where(Container.brand_id == checker.brand_id, Container.sscc == sscc)
        )
        return found, None, sscc
    assert ref.code is not None
    got = await checker.code(ref.code, f"{field}.code")
    if isinstance(got, Failure):
        raise InvalidInput(
            f"{got.field}: {got.detail}", code=f"container_{got.code}", field=got.field
        )
    found = await session.scalar(select(Container).where(Container.code_id == got.code_id))
    return found, got, None


async def find_container(
    session: AsyncSession, checker: UnitChecker, ref: ContainerRef, *, field: str = "container"
) -> Container:
    """An existing container of the brand; 404 ``container_not_found`` otherwise."""
    found, _, _ = await _container_by_ref(session, checker, ref, field)
    if found is None or found.brand_id != checker.brand_id:
        raise NotFound("no such case or pallet", code="container_not_found", field=field)
    return found


async def get_or_create(
    session: AsyncSession, checker: UnitChecker, ref: ContainerRef, kind: str, field: str
) -> Container | Failure:
    found, code, sscc = await _container_by_ref(session, checker, ref, field)
    shown = ref.code or ref.sscc or ""
    if found is not None:
        if found.kind != kind:
            return Failure(shown, field, "wrong_kind", f"this is a {found.kind}, not a {kind}")
        return found
    if sscc is not None and kind != ContainerKind.PALLET:
        return Failure(shown, field, "wrong_kind", "an SSCC identifies a pallet, not a case")
    if code is not None and await open_aggregations(
        session, checker.brand_id, code.code_id, code.code_id + 1
    ):
        return Failure(shown, field, "is_packed_item", "this code is packed as an item")
    container = Container(
        id=uuid.uuid4(),
        brand_id=checker.brand_id,
        kind=kind,
        code_id=code.code_id if code else None,
        gtin=code.gtin if code else None,
        serial=code.serial if code else None,
        sscc=sscc,
        created_at=utcnow(),
    )
    session.add(container)
    await session.flush()
    return container
