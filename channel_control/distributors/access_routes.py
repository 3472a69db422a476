"""Distributor identity routes.

- Admin side (brand scoped, brand admins write, viewers read): a distributor's staff
  accounts and API keys under ``/v1/admin/distributors/{id}``.
- Distributor side: ``POST /v1/distributor/auth/login`` (staff) and the distributor API
  (``/v1/distributor/...``), which accepts a distributor Bearer JWT or ``X-Api-Key``.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.params import FromPath, JSONBody

from channel_control.distributors import credentials, services
from channel_control.distributors.auth import DistributorCaller, provide_distributor_principal
from channel_control.distributors.credential_schemas import (
    ApiKeyCreate,
    ApiKeyCreatedOut,
    ApiKeyOut,
    DistributorLogin,
    DistributorMeOut,
    DistributorTokenOut,
    DistributorUserCreate,
    DistributorUserOut,
)
from channel_control.distributors.schemas import DistributorOut
from kernel.errors import NotFound
from kernel.guards import BRAND_READ, BRAND_WRITE
from kernel.login_limits import login_attempt, provide_login_limiter
from kernel.settings import provide_settings
from kernel.tenancy import SECURITY, ActingBrand, Caller, Db, scoped_dependencies

__all__ = [
    "ROUTES",
    "DistributorAccessController",
    "DistributorApiController",
    "DistributorAuthController",
]


class DistributorAccessController(Controller):
    """Admin side: who may act for a distributor."""

    path = "/v1/admin/distributors/{distributor_id:uuid}"
    tags = ("channel",)
    security = SECURITY
    dependencies = scoped_dependencies()

    @post("/users", status_code=201, guards=[BRAND_WRITE])
    async def create_distributor_user(
        self,
        distributor_id: FromPath[uuid.UUID],
        data: JSONBody[DistributorUserCreate],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
    ) -> DistributorUserOut:
        """Create a staff account (role ``distributor``) bound to this distributor."""
        user, link = await credentials.create_distributor_user(
            db,
            principal,
            acting_brand,
            distributor_id,
            username=data.username,
            password=data.password,
        )
        return DistributorUserOut.of(user, link)

    @get("/users", guards=[BRAND_READ])
    async def list_distributor_users(
        self,
        distributor_id: FromPath[uuid.UUID],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
    ) -> list[DistributorUserOut]:
        """The distributor's staff accounts."""
        rows = await credentials.distributor_users(db, acting_brand, distributor_id)
        return [DistributorUserOut.of(user, link) for user, link in rows]

    @post("/api-keys", status_code=201, guards=[BRAND_WRITE])
    async def create_api_key(
        self,
        distributor_id: FromPath[uuid.UUID],
        data: JSONBody[ApiKeyCreate],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
    ) -> ApiKeyCreatedOut:
        """Create a machine credential; the ``key`` in the answer is shown only this once."""
        created = await credentials.create_api_key(
            db, principal, acting_brand, distributor_id, name=data.name
        )
        out = ApiKeyOut.of(created.key)
        return ApiKeyCreatedOut(
            id=out.id,
            distributor_id=out.distributor_id,
            name=out.name,
            created_at=out.created_at,
            last_used_at=out.last_used_at,
            revoked_at=out.revoked_at,
            key=created.secret,
        )

    @get("/api-keys", guards=[BRAND_READ])
    async def list_api_keys(
        self,
        distributor_id: FromPath[uuid.UUID],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
    ) -> list[ApiKeyOut]:
        """The distributor's API keys (never their secrets), revoked ones included."""
        keys = await credentials.list_api_keys(db, acting_brand, distributor_id)
        return [ApiKeyOut.of(k) for k in keys]

    @delete("/api-keys/{key_id:uuid}", status_code=204, guards=[BRAND_WRITE])
    async def revoke_api_key(
        self,
        distributor_id: FromPath[uuid.UUID],
        key_id: FromPath[uuid.UUID],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
    ) -> None:
        """Revoke an API key (idempotent): it stops working at once."""
        await credentials.revoke_api_key(db, principal, acting_brand, distributor_id, key_id)


class DistributorAuthController(Controller):
    path = "/v1/distributor/auth"
    tags = ("distributor",)

    @post("/login", status_code=200)
    async def distributor_login(
        self,
        data: JSONBody[DistributorLogin],
        db: Db,
        state: State,
        request: Request[Any, Any, Any],
    ) -> DistributorTokenOut:
        """Log a distributor's staff member in: a short-lived distributor-purpose JWT.

        Any failure is 401 ``invalid_credentials``; too many failures for a username or from
        an IP: 429 ``login_locked`` with ``Retry-After`` (seconds) until the lock ends."""
        issued = await credentials.login(
            db,
            provide_settings(state),
            data.username,
            data.password,
            limiter=provide_login_limiter(state),
            attempt=login_attempt(request, "distributor", data.username),
        )
        return DistributorTokenOut(
            access_token=issued.access_token,
            token_type="bearer",  # noqa: S106 - the OAuth token type, not a secret
            expires_in=issued.expires_in,
            distributor_id=issued.principal.distributor_id,
        )


class DistributorApiController(Controller):
    """Distributor side: a distributor sees itself and its own downstream network only."""

    path = "/v1/distributor"
    tags = ("distributor",)
    dependencies = {"distributor": Provide(provide_distributor_principal)}

    @get("/me")
    async def get_distributor_me(self, distributor: DistributorCaller, db: Db) -> DistributorMeOut:
        """The calling credential and its distributor."""
        own = await services.get_distributor(db, distributor.brand_id, distributor.distributor_id)
        return DistributorMeOut(
            via=distributor.via,
            subject_id=distributor.subject,
            name=distributor.name,
            brand_id=distributor.brand_id,
            distributor=DistributorOut.of(own),
        )

    @get("/distributors/{distributor_id:uuid}")
    async def get_network_distributor(
        self, distributor_id: FromPath[uuid.UUID], distributor: DistributorCaller, db: Db
    ) -> DistributorOut:
        """The caller's own distributor or one below it; any other id is 404."""
        if not await services.is_within(
            db, distributor.brand_id, distributor.distributor_id, distributor_id
        ):
            raise NotFound("distributor not found", code="distributor_not_found")
        return DistributorOut.of(
            await services.get_distributor(db, distributor.brand_id, distributor_id)
        )


ROUTES: list[Any] = [
    DistributorAccessController,
    DistributorAuthController,
    DistributorApiController,
]
