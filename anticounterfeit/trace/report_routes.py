"""Routes of traceability and recalls (issue 6): recalls and their affected set, traces,
EPCIS export (admin side, brand scoped). The distributor side (recall confirmations) is
``channel_control.distributors.recall_routes``. Other packages' data comes through
``app.state.trace_sources`` (``anticounterfeit.trace.ports.TraceSources``).

Recall status changes commit, then invalidate the scan path's metadata of every roll the
recall covers (before and after the change), so the next scan of an affected code shows the
notice at once; the outbox event is written in the same transaction as the change.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from litestar import Controller, Response, get, patch, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from anticounterfeit.catalogue.routes import metadata_of
from anticounterfeit.catalogue.schemas import changes_of
from anticounterfeit.codes.format import Keyring
from anticounterfeit.trace import epcis, recall_reports, recalls, traces
from anticounterfeit.trace.models import Recall, RecallStatus
from anticounterfeit.trace.ports import PackingPeriod, ShipmentFacts, TraceSources
from anticounterfeit.trace.report_schemas import AffectedSetOut, BackwardTraceOut, ForwardTraceOut
from anticounterfeit.trace.schemas import (
    RecallCreate,
    RecallOut,
    RecallPage,
    RecallUpdate,
    ScopeOut,
)
from kernel.db import ReadDb
from kernel.errors import InvalidInput
from kernel.guards import BRAND_READ, BRAND_WRITE
from kernel.pagination import Limit, Offset
from kernel.settings import provide_settings
from kernel.tenancy import SECURITY, ActingBrand, Caller, Db, scoped_dependencies
from kernel.uow import after_commit

__all__ = [
    "ROUTES",
    "EpcisController",
    "RecallController",
    "TraceController",
]

RecallStatusFilter = Literal["draft", "active", "closed"]


async def recall_out(db: AsyncSession, recall: Recall) -> RecallOut:
    scopes = [
        ScopeOut(
            kind=s.kind,
            batch_id=s.batch_id,
            material_lot_id=s.material_lot_id,
            roll_id=s.roll_id,
            seq_start=s.seq_start,
            seq_end=s.seq_end,
        )
        for s in await recalls.recall_scopes(db, recall.id)
    ]
    return RecallOut.of(recall, scopes)


def _keyring(state: State) -> Keyring:
    keyring: Keyring = state.keyring
    return keyring


def _sources(state: State) -> TraceSources:
    sources: TraceSources = state.trace_sources
    return sources


class RecallController(Controller):
    path = "/v1/admin/recalls"
    tags = ("recalls",)
    security = SECURITY
    dependencies = scoped_dependencies()

    @post("/", status_code=201, guards=[BRAND_WRITE])
    async def create_recall(
        self, data: JSONBody[RecallCreate], principal: Caller, acting_brand: ActingBrand, db: Db
    ) -> RecallOut:
        """Define a recall (draft): reason, severity, instructions, scopes (batches, material
        lots, code ranges). Nothing reaches consumers until it is activated."""
        recall = await recalls.create_recall(
            db,
            principal,
            acting_brand,
            reason=data.reason,
            severity=data.severity,
            consumer_instructions=data.consumer_instructions,
            distributor_instructions=data.distributor_instructions,
            scopes=[s.to_scope() for s in data.scopes],
        )
        return await recall_out(db, recall)

    @get("/", guards=[BRAND_READ])
    async def list_recalls(
        self,
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        status: FromQuery[RecallStatusFilter | None] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> RecallPage:
        """The brand's recalls, newest first; filter by status."""
        rows, total = await recalls.list_recalls(
            db, acting_brand, status=status, limit=limit, offset=offset
        )
        return RecallPage(
            items=[await recall_out(db, r) for r in rows], total=total, limit=limit, offset=offset
        )

    @get("/{recall_id:uuid}", guards=[BRAND_READ])
    async def get_recall(
        self, recall_id: FromPath[uuid.UUID], principal: Caller, acting_brand: ActingBrand, db: Db
    ) -> RecallOut:
        """One recall with its scopes."""
        return await recall_out(db, await recalls.get_recall(db, acting_brand, recall_id))

    @patch("/{recall_id:uuid}", guards=[BRAND_WRITE])
    async def update_recall(
        self,
        recall_id: FromPath[uuid.UUID],
        data: JSONBody[RecallUpdate],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        state: State,
    ) -> RecallOut:
        """Change a draft or active recall (texts, severity, scopes). Changing an active one
        emits ``recall.updated`` and takes effect on the scan path at once."""
        changes = changes_of(data)
        scopes = changes.pop("scopes", None)
        recall, before = await recalls.update_recall(
            db,
            principal,
            acting_brand,
            recall_id,
            changes,
            [s.to_scope() for s in scopes] if scopes is not None else None,
        )
        if recall.status == RecallStatus.ACTIVE:
            await recall_reports.emit_recall_event(db, _sources(state), recall, "recall.updated")
        return await self._commit_and_invalidate(db, state, recall, before)

    @post("/{recall_id:uuid}/activate", status_code=200, guards=[BRAND_WRITE])
    async def activate_recall(
        self,
        recall_id: FromPath[uuid.UUID],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        state: State,
    ) -> RecallOut:
        """draft → active: every scan of an affected code now shows the recall notice and is
        recorded as a recall hit; ``recall.started`` goes to the outbox."""
        recall = await recalls.activate_recall(db, principal, acting_brand, recall_id)
        await recall_reports.emit_recall_event(db, _sources(state), recall, "recall.started")
        return await self._commit_and_invalidate(db, state, recall, set())

    @post("/{recall_id:uuid}/close", status_code=200, guards=[BRAND_WRITE])
    async def close_recall(
        self,
        recall_id: FromPath[uuid.UUID],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        state: State,
    ) -> RecallOut:
        """active → closed: scans stop showing the notice; ``recall.closed`` is emitted."""
        recall = await recalls.close_recall(db, principal, acting_brand, recall_id)
        await recall_reports.emit_recall_event(db, _sources(state), recall, "recall.closed")
        return await self._commit_and_invalidate(db, state, recall, set())

    @staticmethod
    async def _commit_and_invalidate(
        db: AsyncSession, state: State, recall: Recall, before: set[uuid.UUID]
    ) -> RecallOut:
        out = await recall_out(db, recall)
        rolls = before | await recalls.affected_roll_ids(db, recall)
        after_commit(db, lambda: metadata_of(state).invalidate(*rolls))
        return out

    @get("/{recall_id:uuid}/affected", guards=[BRAND_READ])
    async def get_affected_set(
        self,
        recall_id: FromPath[uuid.UUID],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        state: State,
    ) -> AffectedSetOut:
        """The affected set: units issued / active / void per batch, units scanned by
        consumers, recall hits per region and distributor (units still in the market), and
        the distributors' confirmed quarantined / returned quantities (progress)."""
        recall = await recalls.get_recall(db, acting_brand, recall_id)
        affected = await recall_reports.affected_set(db, _sources(state), recall)
        return AffectedSetOut.of(await recall_out(db, recall), affected)


class TraceController(Controller):
    path = "/v1/admin/traces"
    tags = ("traceability",)
    security = SECURITY
    dependencies = scoped_dependencies()

    @get("/backward", guards=[BRAND_READ])
    async def trace_backward(
        self,
        principal: Caller,
        acting_brand: ActingBrand,
        read_db: ReadDb,
        state: State,
        code: Annotated[
            str | None,
            QueryParameter(max_length=512, description="a unit's or case's code (Digital Link)"),
        ] = None,
        sscc: Annotated[
            str | None, QueryParameter(max_length=40, description="a pallet's SSCC")
        ] = None,
        batch_id: FromQuery[uuid.UUID | None] = None,
    ) -> BackwardTraceOut:
        """From a unit's code, a case's code, a pallet's SSCC or a batch back to the batch(es),
        line and shift, consumed material lots, suppliers and quality results (a case or
        pallet through what it contains now). Give ``code``, ``sscc`` or ``batch_id``."""
        if code is not None or sscc is not None:
            trace = await traces.backward_from_identifier(
                read_db,
                _sources(state),
                metadata_of(state),
                _keyring(state),
                acting_brand,
                code=code,
                sscc=sscc,
            )
        elif batch_id is not None:
            trace = await traces.backward_from_batch(read_db, acting_brand, batch_id)
        else:
            raise InvalidInput("give code or batch_id", code="trace_root_required", field="code")
        return BackwardTraceOut.of(trace)

    @get("/forward", guards=[BRAND_READ])
    async def trace_forward(
        self,
        principal: Caller,
        acting_brand: ActingBrand,
        read_db: ReadDb,
        state: State,
        material_lot_id: FromQuery[uuid.UUID | None] = None,
        batch_id: FromQuery[uuid.UUID | None] = None,
        detail: FromQuery[traces.DetailKind] = "batches",
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> ForwardTraceOut:
        """From a material lot or a batch forward: batches, code ranges, units issued /
        active / void, units scanned and scans (summary, for every reader), plus one page of
        ``detail`` (batches, scans or distributors) for brand admins only."""
        trace = await traces.forward_trace(
            read_db,
            _sources(state),
            _keyring(state),
            acting_brand,
            material_lot_id=material_lot_id,
            batch_id=batch_id,
            detail=detail,
            with_lists=traces.may_list(principal),
            limit=limit,
            offset=offset,
        )
        return ForwardTraceOut.of(trace, limit=limit, offset=offset)


class EpcisController(Controller):
    path = "/v1/admin/epcis"
    tags = ("traceability",)
    security = SECURITY
    dependencies = scoped_dependencies()

    @get("/batches/{batch_id:uuid}", media_type=epcis.EPCIS_MEDIA_TYPE, guards=[BRAND_READ])
    async def export_batch_epcis(
        self,
        batch_id: FromPath[uuid.UUID],
        principal: Caller,
        acting_brand: ActingBrand,
        read_db: ReadDb,
        state: State,
    ) -> Response[dict[str, Any]]:
        """The batch's history as an EPCIS 2.0 JSON-LD document (class-level identifiers)."""
        settings = provide_settings(state)
        document = await epcis.batch_document(
            read_db, _sources(state), settings.gateway.resolver_base_url, acting_brand, batch_id
        )
        return Response(document, media_type=epcis.EPCIS_MEDIA_TYPE)

    @get("/codes", media_type=epcis.EPCIS_MEDIA_TYPE, guards=[BRAND_READ])
    async def export_code_epcis(
        self,
        principal: Caller,
        acting_brand: ActingBrand,
        read_db: ReadDb,
        state: State,
        code: Annotated[
            str | None, QueryParameter(max_length=512, description="a GS1 Digital Link")
        ] = None,
    ) -> Response[dict[str, Any]]:
        """One code's history as an EPCIS 2.0 JSON-LD document (instance-level identifier)."""
        if not code:
            raise InvalidInput(
                "give the code (a GS1 Digital Link)", code="code_required", field="code"
            )
        resolved = await traces.resolve_code(
            metadata_of(state), _keyring(state), acting_brand, code
        )
        periods: list[PackingPeriod] = []
        chain: list[ShipmentFacts] = []
        if resolved.state.status != "void":  # channel_control knows nothing of void codes
            periods, chain = await _sources(state).channel.code_channel_history(
                read_db, _keyring(state), metadata_of(state), acting_brand, code
            )
        settings = provide_settings(state)
        document = await epcis.code_document(
            read_db, settings.gateway.resolver_base_url, resolved, periods=periods, chain=chain
        )
        return Response(document, media_type=epcis.EPCIS_MEDIA_TYPE)


ROUTES: list[Any] = [
    RecallController,
    TraceController,
    EpcisController,
]
