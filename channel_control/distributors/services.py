"""Distributor service: the brand's distribution network and each distributor's territory.

Every function takes the acting brand and filters on it: another brand's distributor is "not
found". Services flush, never commit (the request owns the transaction), and write an audit
entry in the same unit of work as the change.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from channel_control.distributors.models import Distributor, DistributorLevel
from channel_control.distributors.territory import Territory, territory_to_json
from kernel.audit import record_audit
from kernel.auth import Principal
from kernel.db import utcnow
from kernel.errors import Conflict, InvalidInput, NotFound
from kernel.pagination import fetch_page

__all__ = [
    "MAX_DEPTH",
    "Distributor",
    "create_distributor",
    "get_distributor",
    "get_distributor_by_code",
    "is_within",
    "list_distributors",
    "owned_distributor_ids",
    "update_distributor",
]

# A distribution network is a few levels deep; a longer parent chain is a data error, and the
# bound keeps the cycle walk finite whatever is stored.
MAX_DEPTH = 32


def _not_found(field: str | None = None) -> NotFound:
    return NotFound("distributor not found", code="distributor_not_found", field=field)


def _code_taken(code: str) -> Conflict:
    return Conflict(
        f"distributor code {code!r} is already used in this brand",
        code="distributor_code_taken",
        field="code",
    )


async def get_distributor(
    session: AsyncSession, brand_id: uuid.UUID, distributor_id: uuid.UUID
) -> Distributor:
    """The brand's distributor ``distributor_id``; 404 ``distributor_not_found`` otherwise."""
    found = (
        await session.execute(
            select(Distributor).where(
                Distributor.id == distributor_id, Distributor.brand_id == brand_id
            )
        )
    ).scalar_one_or_none()
    if found is None:
        raise _not_found()
    return found


async def owned_distributor_ids(
    session: AsyncSession, brand_id: uuid.UUID, ids: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    """Of ``ids``, the distributors of ``brand_id`` (``kernel.tenancy.OwnedIds``)."""
    rows = await session.execute(
        select(Distributor.id).where(
            Distributor.brand_id == brand_id, Distributor.id.in_(list(ids))
        )
    )
    return set(rows.scalars())


async def get_distributor_by_code(
    session: AsyncSession, brand_id: uuid.UUID, code: str
) -> Distributor:
    """The brand's distributor with code ``code``; 404 ``distributor_not_found`` otherwise."""
    found = (
        await session.execute(
            select(Distributor).where(Distributor.brand_id == brand_id, Distributor.code == code)
        )
    ).scalar_one_or_none()
    if found is None:
        raise _not_found("code")
    return found


async def _parent_ids(
    session: AsyncSession, brand_id: uuid.UUID, start: uuid.UUID
) -> list[uuid.UUID]:
    """``start`` and its ancestors, nearest first (at most ``MAX_DEPTH``)."""
    chain = [start]
    current: uuid.UUID | None = start
    while current is not None and len(chain) <= MAX_DEPTH:
        current = (
            await session.execute(
                select(Distributor.parent_id).where(
                    Distributor.id == current, Distributor.brand_id == brand_id
                )
            )
        ).scalar_one_or_none()
        if current is not None:
            chain.append(current)
    return chain


async def _check_parent(
    session: AsyncSession, brand_id: uuid.UUID, parent_id: uuid.UUID, child_id: uuid.UUID | None
) -> None:
    try:
        await get_distributor(session, brand_id, parent_id)
    except NotFound as exc:
        raise _not_found("parent_id") from exc
    chain = await _parent_ids(session, brand_id, parent_id)
    if child_id is not None and child_id in chain:
        raise InvalidInput(
            "the parent is this distributor or one of its descendants (a cycle)",
            code="parent_cycle",
            field="parent_id",
        )
    if len(chain) > MAX_DEPTH:
        raise InvalidInput(
            f"a distribution chain is at most {MAX_DEPTH} levels deep",
            code="chain_too_deep",
            field="parent_id",
        )


async def _check_code_free(
    session: AsyncSession, brand_id: uuid.UUID, code: str, except_id: uuid.UUID | None
) -> None:
    query = select(Distributor.id).where(Distributor.brand_id == brand_id, Distributor.code == code)
    if except_id is not None:
        query = query.where(Distributor.id != except_id)
    if (await session.execute(query)).first() is not None:
        raise _code_taken(code)


async def create_distributor(
    session: AsyncSession,
    actor: Principal | None,
    brand_id: uuid.UUID,
    *,
    code: str,
    name: str,
    level: str,
    parent_id: uuid.UUID | None,
    contact: dict[str, Any],
    territory: Territory,
) -> Distributor:
    """Add a distributor to the brand's network (``code`` unique per brand)."""
    level = DistributorLevel(level).value
    if parent_id is not None:
        await _check_parent(session, brand_id, parent_id, None)
    await _check_code_free(session, brand_id, code, None)
    now = utcnow()
    distributor = Distributor(
        id=uuid.uuid4(),
        brand_id=brand_id,
        parent_id=parent_id,
        code=code,
        name=name.strip(),
        level=level,
        contact=contact,
        territory=territory_to_json(territory),
        created_at=now,
        updated_at=now,
    )
    session.add(distributor)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent create with the same code
        raise _code_taken(code) from exc
    record_audit(
        session,
        actor,
        "distributor.create",
        target_type="distributor",
        target_id=distributor.id,
        brand_id=brand_id,
        details={"code": code, "level": level, "parent_id": str(parent_id) if parent_id else None},
    )
    return distributor


async def update_distributor(
    session: AsyncSession,
    actor: Principal | None,
    brand_id: uuid.UUID,
    distributor_id: uuid.UUID,
    changes: dict[str, Any],
) -> Distributor:
    """Apply ``changes`` (code, name, level, parent_id, contact, territory, active)."""
    distributor = await get_distributor(session, brand_id, distributor_id)
    audit: dict[str, Any] = {}
    if "code" in changes and changes["code"] != distributor.code:
        await _check_code_free(session, brand_id, changes["code"], distributor.id)
        audit["code"] = [distributor.code, changes["code"]]
        distributor.code = changes["code"]
    if "name" in changes:
        distributor.name = changes["name"].strip()
        audit["name"] = distributor.name
    if "level" in changes:
        distributor.level = DistributorLevel(changes["level"]).value
        audit["level"] = distributor.level
    if "parent_id" in changes and changes["parent_id"] != distributor.parent_id:
        if changes["parent_id"] is not None:
            await _check_parent(session, brand_id, changes["parent_id"], distributor.id)
        distributor.parent_id = changes["parent_id"]
        audit["parent_id"] = str(distributor.parent_id) if distributor.parent_id else None
    if "contact" in changes:
        distributor.contact = changes["contact"]
        audit["contact"] = True
    if "territory" in changes:
        distributor.territory = territory_to_json(changes["territory"])
        audit["territory"] = distributor.territory
    if "active" in changes:
        active = bool(changes["active"])
        if active != (distributor.deactivated_at is None):
            distributor.deactivated_at = None if active else utcnow()
            audit["active"] = active
    if audit:
        distributor.updated_at = utcnow()
        try:
            await session.flush()
        except IntegrityError as exc:
            raise _code_taken(distributor.code) from exc
        record_audit(
            session,
            actor,
            "distributor.update",
            target_type="distributor",
            target_id=distributor.id,
            brand_id=brand_id,
            details=audit,
        )
    return distributor


async def list_distributors(
    session: AsyncSession,
    brand_id: uuid.UUID,
    *,
    level: str | None = None,
    parent_id: uuid.UUID | None = None,
    q: str | None = None,
    limit: int,
    offset: int,
) -> tuple[list[Distributor], int]:
    """The brand's distributors by code; ``q`` matches code or name (case-insensitive)."""
    query: Select[Any] = (
        select(Distributor).where(Distributor.brand_id == brand_id).order_by(Distributor.code)
    )
    if level is not None:
        query = query.where(Distributor.level == level)
    if parent_id is not None:
        query = query.where(Distributor.parent_id == parent_id)
    if q:
        needle = q.strip().lower()
        query = query.where(
            or_(
                func.lower(Distributor.code).contains(needle, autoescape=True),
                func.lower(Distributor.name).contains(needle, autoescape=True),
            )
        )
    return await fetch_page(session, query, limit=limit, offset=offset)


async def is_within(
    session: AsyncSession, brand_id: uuid.UUID, ancestor_id: uuid.UUID, target_id: uuid.UUID
) -> bool:
    """Is ``target_id`` the distributor ``ancestor_id`` itself or one of its descendants?"""
    return ancestor_id in await _parent_ids(session, brand_id, target_id)
