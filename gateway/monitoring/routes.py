"""Admin views of the gateway's data: scan history of a code, counterfeit attempts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from litestar import Controller, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery

from anticounterfeit.codes.format import Keyring, verify_code
from anticounterfeit.codes.identity import code_id_of
from anticounterfeit.codes.metadata import CodeMetadataService
from anticounterfeit.gs1.gtin import normalize_gtin
from gateway.monitoring.queries import (
    CodeScanHistory,
    CounterfeitAttemptPage,
    code_scan_history,
    list_counterfeit_attempts,
)
from kernel.db import ReadDb
from kernel.errors import NotFound
from kernel.pagination import Limit, Offset
from kernel.tenancy import scoped_dependencies

__all__ = ["ROUTES", "MonitoringController"]


class MonitoringController(Controller):
    path = "/v1/admin"
    tags = ["monitoring"]
    security = [{"BearerToken": []}]
    dependencies = scoped_dependencies()

    @get("/codes/{gtin:str}/{code:str}/scans")
    async def get_code_scans(
        self,
        state: State,
        read_db: ReadDb,
        acting_brand: NamedDependency[uuid.UUID],
        gtin: FromPath[str],
        code: FromPath[str],
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> CodeScanHistory:
        """Every consumer scan of one code, newest first, with totals and distinct devices.

        404 ``unknown_code`` unless the code is genuine, of this GTIN and issued by the acting
        brand (another brand's code is as unknown as a forged one)."""
        gtin14 = normalize_gtin(gtin)
        keyring: Keyring = state.keyring
        decoded = verify_code(keyring, code, gtin14)
        metadata: CodeMetadataService = state.metadata
        meta = await metadata.roll_for(decoded.kid, decoded.index) if decoded else None
        if (
            decoded is None
            or meta is None
            or meta.brand_id != acting_brand
            or meta.product.gtin != gtin14
        ):
            raise NotFound("no code of yours matches", code="unknown_code", field="code")
        history = await code_scan_history(
            read_db,
            acting_brand,
            code_id_of(decoded.kid, decoded.index),
            limit=limit,
            offset=offset,
        )
        return history

    @get("/counterfeit-attempts")
    async def list_counterfeit_attempts(
        self,
        read_db: ReadDb,
        acting_brand: NamedDependency[uuid.UUID],
        gtin: FromQuery[str | None] = None,
        ip: FromQuery[str | None] = None,
        since: FromQuery[datetime | None] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> CounterfeitAttemptPage:
        """Forged-code scans of the brand's GTINs, aggregated per hour, GTIN, IP and reason."""
        items, total = await list_counterfeit_attempts(
            read_db,
            acting_brand,
            gtin=normalize_gtin(gtin) if gtin else None,
            ip=ip,
            since=since,
            limit=limit,
            offset=offset,
        )
        return CounterfeitAttemptPage(items=items, total=total, limit=limit, offset=offset)


ROUTES: list[Any] = [MonitoringController]
