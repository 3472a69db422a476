"""Distributor side of recalls (issue 6): the brand's active recalls with instructions, and
this distributor's confirmations of quarantined / returned quantities."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, get, post
from litestar.di import Provide
from litestar.params import FromPath, JSONBody

from anticounterfeit.trace import recalls
from anticounterfeit.trace.report_schemas import ConfirmationIn, DistributorRecallOut
from anticounterfeit.trace.schemas import ProgressOut
from channel_control.distributors.auth import DistributorCaller, provide_distributor_principal
from kernel.tenancy import Db

__all__ = ["ROUTES", "DistributorRecallController"]


class DistributorRecallController(Controller):
    """Distributor side: the brand's active recalls and this distributor's confirmations."""

    path = "/v1/distributor/recalls"
    tags = ("distributor",)
    dependencies = {"distributor": Provide(provide_distributor_principal)}

    @get("/")
    async def list_distributor_recalls(
        self, distributor: DistributorCaller, db: Db
    ) -> list[DistributorRecallOut]:
        """Active recalls of the distributor's brand with instructions and the distributor's
        latest confirmation."""
        rows, _ = await recalls.list_recalls(
            db, distributor.brand_id, status=recalls.RecallStatus.ACTIVE, limit=200, offset=0
        )
        out: list[DistributorRecallOut] = []
        for recall in rows:
            mine = (await recalls.recall_progress(db, recall.id)).get(distributor.distributor_id)
            out.append(
                DistributorRecallOut(
                    id=recall.id,
                    status=recall.status,
                    severity=recall.severity,
                    reason=recall.reason,
                    distributor_instructions=recall.distributor_instructions,
                    activated_at=recall.activated_at,
                    my_confirmation=ProgressOut.of(mine) if mine else None,
                )
            )
        return out

    @post("/{recall_id:uuid}/confirmations", status_code=201)
    async def confirm_recall_quantities(
        self,
        recall_id: FromPath[uuid.UUID],
        data: JSONBody[ConfirmationIn],
        distributor: DistributorCaller,
        db: Db,
    ) -> ProgressOut:
        """Report the distributor's current quarantined and returned quantities for an active
        recall of its brand (each report replaces the previous one in the progress)."""
        await recalls.confirm_quantities(
            db,
            distributor.brand_id,
            recall_id,
            distributor.distributor_id,
            quarantined=data.quarantined,
            returned=data.returned,
            note=data.note,
            confirmed_by=f"{distributor.via}:{distributor.name}",
        )
        latest = await recalls.recall_progress(db, recall_id)
        return ProgressOut.of(latest[distributor.distributor_id])


ROUTES: list[Any] = [DistributorRecallController]
