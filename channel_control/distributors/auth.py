"""Who is calling the distributor API: a distributor Bearer JWT or an ``X-Api-Key``.

Other packages' distributor-facing routes depend on ``provide_distributor_principal`` from here,
never on a routes module.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import NamedDependency

from channel_control.distributors import credentials
from channel_control.distributors.credentials import DistributorPrincipal
from kernel.errors import AuthenticationFailed
from kernel.settings import provide_settings
from kernel.tenancy import Db

__all__ = ["API_KEY_HEADER", "DistributorCaller", "provide_distributor_principal"]

API_KEY_HEADER = "X-Api-Key"

DistributorCaller = NamedDependency[DistributorPrincipal]


async def provide_distributor_principal(
    request: Request[Any, Any, Any], db: Db
) -> DistributorPrincipal:
    """Dependency ``distributor``: the caller from ``X-Api-Key`` or a distributor Bearer JWT."""
    api_key = request.headers.get(API_KEY_HEADER)
    if api_key:
        return await credentials.authenticate_api_key(db, api_key)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed(
            f"send a distributor bearer token or an {API_KEY_HEADER} header",
            code="missing_token",
        )
    return await credentials.authenticate_token(
        db, provide_settings(request.app.state), token.strip()
    )
