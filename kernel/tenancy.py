"""Tenancy: which brand a request acts for, and the dependencies every brand route shares.

A brand user always acts for its own brand; a platform admin names the brand in the
``X-Scanguard-Brand`` header. Whether a named brand exists is asked of the catalogue through
``app.state.brand_exists`` (a ``BrandExists`` the composition root provides), so the kernel
never reads a domain's table.

A brand references only its own objects. ``require_own`` is the one check a service runs on
ids it is given (a campaign's products, premises' distributor...): every id must be an
object of the acting brand, or the call is 422 ``unknown_<kind>`` naming the field, the
same answer as for an id that exists nowhere. Objects of a package the service may not
import are looked up through ``app.state.brand_objects`` (kind → ``OwnedIds``, provided by
the composition root); ``owned_ids(state, kind)`` reads it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

from litestar import Request
from litestar.di import NamedDependency, Provide
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Principal
from kernel.errors import DomainError, InvalidInput, NotFound
from kernel.guards import provide_principal

__all__ = [
    "BRAND_HEADER",
    "SECURITY",
    "ActingBrand",
    "BrandExists",
    "BrandScope",
    "Caller",
    "Db",
    "OwnedIds",
    "owned_ids",
    "provide_acting_brand",
    "provide_brand_scope",
    "require_own",
    "resolve_acting_brand",
    "scoped_dependencies",
]

BRAND_HEADER = "X-Scanguard-Brand"
SECURITY: list[dict[str, list[str]]] = [{"BearerToken": []}]

# Explicitly named dependencies (Litestar 3 drops inferred ones).
Db = NamedDependency[AsyncSession]
Caller = NamedDependency[Principal]
ActingBrand = NamedDependency[uuid.UUID]
BrandScope = NamedDependency[uuid.UUID | None]

BrandExists = Callable[[AsyncSession, uuid.UUID], Awaitable[bool]]
#: Of the ids asked about, those that are objects of the brand.
OwnedIds = Callable[
    [AsyncSession, uuid.UUID, Collection[uuid.UUID]], Awaitable[Collection[uuid.UUID]]
]


async def require_own(
    session: AsyncSession,
    brand_id: uuid.UUID,
    ids: Collection[uuid.UUID],
    *,
    owned: OwnedIds,
    kind: str,
    field: str,
) -> None:
    """422 ``unknown_<kind>`` naming ``field`` unless every id is an object of the brand.

    Another brand's object and one that does not exist get the same answer: the caller
    learns nothing about other brands.
    """
    wanted = set(ids)
    if not wanted:
        return
    missing = wanted - set(await owned(session, brand_id, wanted))
    if missing:
        shown = ", ".join(sorted(str(i) for i in missing)[:5])
        raise InvalidInput(
            f"no {kind.replace('_', ' ')} of this brand: {shown}",
            code=f"unknown_{kind}",
            field=field,
        )


def owned_ids(state: Any, kind: str) -> OwnedIds:
    """The composition root's ``OwnedIds`` lookup for objects of ``kind``."""
    lookups: Mapping[str, OwnedIds] = state.brand_objects
    return lookups[kind]


async def resolve_acting_brand(
    session: AsyncSession,
    principal: Principal,
    header: str | None,
    *,
    required: bool,
    brand_exists: BrandExists,
) -> uuid.UUID | None:
    """The brand a request acts for.

    Brand users: always their own brand (the header is ignored: it cannot widen access).
    Platform admins: the brand named by ``X-Scanguard-Brand``; without it, ``None`` when
    ``required`` is false (platform-wide reads such as the audit log), else 400
    ``brand_required``. A header naming no brand is 404 ``brand_not_found``.
    """
    if not principal.is_platform_admin:
        if principal.brand_id is None:  # a token that cannot exist: refuse rather than widen
            raise DomainError("token has no brand", code="brand_required", field=BRAND_HEADER)
        return principal.brand_id
    value = (header or "").strip()
    if not value:
        if not required:
            return None
        raise DomainError(
            f"platform admins name the brand to act on with the {BRAND_HEADER} header",
            code="brand_required",
            field=BRAND_HEADER,
        )
    try:
        brand_id = uuid.UUID(value)
    except ValueError as exc:
        raise DomainError(
            f"{BRAND_HEADER} must be a brand id (UUID)", code="invalid_brand", field=BRAND_HEADER
        ) from exc
    if not await brand_exists(session, brand_id):
        raise NotFound("brand not found", code="brand_not_found", field=BRAND_HEADER)
    return brand_id


async def provide_acting_brand(
    request: Request[Any, Any, Any],
    principal: Caller,
    db: Db,
) -> uuid.UUID:
    """Dependency ``acting_brand``: the brand this request acts for (required)."""
    brand_id = await resolve_acting_brand(
        db,
        principal,
        request.headers.get(BRAND_HEADER),
        required=True,
        brand_exists=request.app.state.brand_exists,
    )
    assert brand_id is not None  # required=True never returns None
    return brand_id


async def provide_brand_scope(
    request: Request[Any, Any, Any],
    principal: Caller,
    db: Db,
) -> uuid.UUID | None:
    """Dependency ``brand_scope``: like ``acting_brand`` but ``None`` = all brands (platform)."""
    return await resolve_acting_brand(
        db,
        principal,
        request.headers.get(BRAND_HEADER),
        required=False,
        brand_exists=request.app.state.brand_exists,
    )


def scoped_dependencies() -> dict[str, Provide]:
    """``principal``, ``acting_brand`` and ``brand_scope`` for a controller or router."""
    return {
        "principal": Provide(provide_principal),
        "acting_brand": Provide(provide_acting_brand),
        "brand_scope": Provide(provide_brand_scope),
    }
