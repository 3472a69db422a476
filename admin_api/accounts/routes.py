"""Admin API routes owned by admin_api: login, the caller, users and the audit trail."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from admin_api.accounts import services as account_admin
from admin_api.accounts.schemas import (
    AdminTokenOut,
    AuditEntryOut,
    AuditEntryPage,
    LoginRequest,
    PrincipalOut,
    RoleName,
    UserCreate,
    UserOut,
    UserPage,
)
from kernel import accounts
from kernel.guards import BRAND_READ, provide_principal
from kernel.login_limits import login_attempt, provide_login_limiter
from kernel.pagination import Limit, Offset
from kernel.settings import provide_settings
from kernel.tenancy import SECURITY, BrandScope, Caller, Db, scoped_dependencies

__all__ = ["ROUTES", "AuditController", "AuthController", "UserController"]


class AuthController(Controller):
    path = "/v1/admin/auth"
    tags = ("auth",)

    @post("/login", status_code=200)
    async def login(
        self,
        data: JSONBody[LoginRequest],
        db: Db,
        state: State,
        request: Request[Any, Any, Any],
    ) -> AdminTokenOut:
        """Exchange a username and password for a short-lived bearer token (admin JWT).

        Any failure (unknown user, wrong password, disabled account) is the same 401
        ``invalid_credentials``. Too many failures for a username or from an IP: 429
        ``login_locked`` with ``Retry-After`` (seconds) until the lock ends.
        """
        issued = await account_admin.login(
            db,
            provide_settings(state),
            data.username,
            data.password,
            limiter=provide_login_limiter(state),
            attempt=login_attempt(request, "admin", data.username),
        )
        return AdminTokenOut(
            access_token=issued.access_token,
            token_type="bearer",  # noqa: S106 - the OAuth token type, not a secret
            expires_in=issued.expires_in,
        )

    @get(
        "/me",
        security=SECURITY,
        dependencies={"principal": Provide(provide_principal)},
    )
    async def me(self, principal: Caller) -> PrincipalOut:
        """The caller, as read from the verified token."""
        return PrincipalOut.of(principal)


class UserController(Controller):
    path = "/v1/admin/users"
    tags = ("auth",)
    security = SECURITY
    dependencies = scoped_dependencies()

    @post("/", status_code=201)
    async def create_user(
        self,
        data: JSONBody[UserCreate],
        principal: Caller,
        db: Db,
    ) -> UserOut:
        """Create an admin user. Platform admins: any role; brand admins: users of their own
        brand with role ``brand_admin`` or ``brand_viewer``. Passwords: >= 12 characters."""
        user = await accounts.create_user(
            db,
            principal,
            username=data.username,
            password=data.password,
            role=data.role,
            brand_id=data.brand_id,
        )
        return UserOut.of(user)

    @get("/", guards=[BRAND_READ])
    async def list_users(
        self,
        principal: Caller,
        brand_scope: BrandScope,
        db: Db,
        role: FromQuery[RoleName | None] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> UserPage:
        """List users: a brand's own (brand users, or a platform admin naming the brand with
        ``X-Scanguard-Brand``) or everyone (platform admin without the header)."""
        rows, total = await account_admin.list_users(
            db, brand_scope, role=role, limit=limit, offset=offset
        )
        return UserPage(
            items=[UserOut.of(u) for u in rows], total=total, limit=limit, offset=offset
        )

    @get("/{user_id:uuid}", guards=[BRAND_READ])
    async def get_user(
        self,
        user_id: FromPath[uuid.UUID],
        principal: Caller,
        brand_scope: BrandScope,
        db: Db,
    ) -> UserOut:
        """One user (of the caller's brand, unless the caller is a platform admin)."""
        return UserOut.of(await accounts.get_user(db, brand_scope, user_id))

    @post("/{user_id:uuid}/disable", status_code=200)
    async def disable_user(
        self,
        user_id: FromPath[uuid.UUID],
        principal: Caller,
        brand_scope: BrandScope,
        db: Db,
    ) -> UserOut:
        """Disable a user: no new logins (tokens already issued expire on their own)."""
        return UserOut.of(await account_admin.disable_user(db, principal, brand_scope, user_id))


class AuditController(Controller):
    path = "/v1/admin/audit"
    tags = ("monitoring",)
    security = SECURITY
    dependencies = scoped_dependencies()

    @get("/", guards=[BRAND_READ])
    async def list_audit(
        self,
        principal: Caller,
        brand_scope: BrandScope,
        db: Db,
        action: Annotated[str | None, QueryParameter(max_length=100)] = None,
        target_type: Annotated[str | None, QueryParameter(max_length=50)] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> AuditEntryPage:
        """Audit trail, newest first: the acting brand's entries (platform admins without
        ``X-Scanguard-Brand``: every entry)."""
        rows, total = await account_admin.list_audit(
            db, brand_scope, action=action, target_type=target_type, limit=limit, offset=offset
        )
        return AuditEntryPage(
            items=[AuditEntryOut.of(e) for e in rows], total=total, limit=limit, offset=offset
        )


ROUTES: list[Any] = [AuthController, UserController, AuditController]
