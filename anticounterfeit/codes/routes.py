"""Code roll admin API: issue, list, export, activate / void / bind ranges, void and look up codes.

Every route is scoped to the acting brand (``catalogue_routes.provide_acting_brand``); another
brand's roll or code is a 404. Handlers that change a roll commit explicitly and only then
invalidate the scan path's metadata cache, so no reader can re-cache uncommitted state.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from anticounterfeit.codes import services as rolls
from anticounterfeit.codes.format import Keyring
from anticounterfeit.codes.metadata import CodeMetadataService
from anticounterfeit.codes.models import CodeRoll
from anticounterfeit.codes.schemas import (
    ActivateRangeIn,
    BindBatchIn,
    CodeLookupOut,
    IssueRollIn,
    RollDetailOut,
    RollOut,
    RollPage,
    SegmentOut,
    StatusCountsOut,
    VoidCodeResultOut,
    VoidCodesIn,
    VoidCodesOut,
    VoidRangeIn,
)
from kernel.auth import Principal
from kernel.guards import BRAND_WRITE, provide_principal
from kernel.idempotency import idempotency_key_header
from kernel.pagination import Limit, Offset
from kernel.settings import Settings
from kernel.tenancy import provide_acting_brand
from kernel.uow import after_commit
from kernel.wire import MAX_INT64

__all__ = ["ROUTES", "CodeController", "RollController"]

SECURITY: list[dict[str, list[str]]] = [{"BearerToken": []}]
TAGS = ["codes"]
DEPENDENCIES = {
    "principal": Provide(provide_principal),
    "acting_brand": Provide(provide_acting_brand),
}


def _keyring(request: Request[Any, Any, Any]) -> Keyring:
    keyring: Keyring = request.app.state.keyring
    return keyring


def _settings(request: Request[Any, Any, Any]) -> Settings:
    # Read from app state: a Settings handler parameter would be re-validated by msgspec.
    settings: Settings = request.app.state.settings
    return settings


async def _invalidate(request: Request[Any, Any, Any], *roll_ids: uuid.UUID) -> None:
    metadata: CodeMetadataService = request.app.state.metadata
    await metadata.invalidate(*roll_ids)


async def _roll_outs(db: AsyncSession, roll_list: list[CodeRoll]) -> list[RollOut]:
    gtins = await rolls.product_gtins(db, {r.product_id for r in roll_list})
    lots = await rolls.batch_lots(db, {r.batch_id for r in roll_list if r.batch_id})
    return [
        RollOut(
            id=r.id,
            product_id=r.product_id,
            gtin=gtins[r.product_id],
            batch_id=r.batch_id,
            lot=lots.get(r.batch_id) if r.batch_id else None,
            count=r.count,
            kid=r.kid,
            note=r.note,
            idempotency_key=r.idempotency_key,
            created_at=r.created_at,
            created_by=r.created_by,
        )
        for r in roll_list
    ]


async def _roll_detail(db: AsyncSession, roll: CodeRoll) -> RollDetailOut:
    (base,) = await _roll_outs(db, [roll])
    state = await rolls.roll_state(db, roll)
    return RollDetailOut(
        **{f: getattr(base, f) for f in base.__struct_fields__},
        status_counts=StatusCountsOut(
            inactive=state.counts["inactive"],
            active=state.counts["active"],
            void=state.counts["void"],
        ),
        segments=[
            SegmentOut(
                seq_start=seg.start,
                seq_end=state.segment_end(i),
                status=seg.status,
                batch_id=seg.batch_id,
                void_reason=seg.void_reason,
            )
            for i, seg in enumerate(state.segments)
        ],
    )


class RollController(Controller):
    path = "/v1/admin/rolls"
    tags = TAGS
    security = SECURITY
    dependencies = DEPENDENCIES

    @post("/", status_code=201, guards=[BRAND_WRITE])
    async def create_roll(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        acting_brand: NamedDependency[uuid.UUID],
        data: JSONBody[IssueRollIn],
        idempotency_key: Annotated[str | None, idempotency_key_header(100)] = None,
    ) -> Response[RollOut]:
        """Issue a roll of ``count`` codes for a product (brand admins).

        Allocates a contiguous index range from the brand's active code key; writes one roll
        row (plus one activation event with ``activate``), never a row per code. With an
        ``Idempotency-Key`` header a repeated request returns the same roll with 200; the same
        key with a different body is 409 ``idempotency_key_reused``.
        """
        result = await rolls.issue_roll_and_commit(
            db,
            _keyring(request),
            principal,
            acting_brand,
            rolls.IssueRequest(
                count=data.count,
                product_id=data.product_id,
                gtin=data.gtin,
                batch_id=data.batch_id,
                lot=data.lot,
                activate=data.activate,
                note=data.note,
                idempotency_key=idempotency_key,
            ),
        )
        (out,) = await _roll_outs(db, [result.roll])
        return Response(out, status_code=201 if result.created else 200)

    @get("/")
    async def list_rolls(
        self,
        db: NamedDependency[AsyncSession],
        acting_brand: NamedDependency[uuid.UUID],
        product_id: FromQuery[uuid.UUID | None] = None,
        batch_id: FromQuery[uuid.UUID | None] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> RollPage:
        """List the brand's rolls, newest first; filter by product or batch."""
        found, total = await rolls.list_rolls(
            db, acting_brand, product_id=product_id, batch_id=batch_id, limit=limit, offset=offset
        )
        return RollPage(items=await _roll_outs(db, found), total=total, limit=limit, offset=offset)

    @get("/{roll_id:uuid}")
    async def get_roll(
        self,
        db: NamedDependency[AsyncSession],
        acting_brand: NamedDependency[uuid.UUID],
        roll_id: FromPath[uuid.UUID],
    ) -> RollDetailOut:
        """A roll with its lifecycle segments and the number of codes per status."""
        roll = await rolls.get_roll(db, acting_brand, roll_id)
        return await _roll_detail(db, roll)

    @get("/{roll_id:uuid}/export.csv", media_type="text/csv", guards=[BRAND_WRITE])
    async def export_roll(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        acting_brand: NamedDependency[uuid.UUID],
        roll_id: FromPath[uuid.UUID],
        from_seq: Annotated[
            int | None, QueryParameter(ge=0, le=MAX_INT64, description="first seq")
        ] = None,
        to_seq: Annotated[
            int | None, QueryParameter(ge=1, le=MAX_INT64, description="end seq, exclusive")
        ] = None,
    ) -> Stream:
        """Stream the roll's print file (CSV ``seq,code,url[,pin]``; brand admins only).

        Rendered on the fly, memory independent of the roll size; each export is audited.
        ``from_seq``/``to_seq`` select a sub-range (``seq`` keeps the roll's numbering).
        """
        roll = await rolls.get_roll(db, acting_brand, roll_id)
        plan = await rolls.plan_export(
            db,
            _keyring(request),
            principal,
            roll,
            resolver_base_url=_settings(request).gateway.resolver_base_url,
            from_seq=from_seq,
            to_seq=to_seq,
        )
        chunks = plan.iter_csv()  # validates before the first byte is sent
        suffix = "" if plan.count == roll.count else f"-{plan.from_seq}-{plan.to_seq}"
        return Stream(
            chunks,
            media_type="text/csv; charset=us-ascii",
            headers={
                "Content-Disposition": f'attachment; filename="roll-{roll.id}{suffix}.csv"',
                "Cache-Control": "no-store",
            },
        )

    @post("/{roll_id:uuid}/activate", status_code=200, guards=[BRAND_WRITE])
    async def activate_roll(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        acting_brand: NamedDependency[uuid.UUID],
        roll_id: FromPath[uuid.UUID],
        data: JSONBody[ActivateRangeIn],
    ) -> RollDetailOut:
        """Activate codes ``[seq_from, seq_to)`` (whole roll if omitted). Void codes stay void."""
        roll = await rolls.get_roll(db, acting_brand, roll_id)
        await rolls.activate_range(db, principal, roll, data.seq_from, data.seq_to)
        out = await _roll_detail(db, roll)
        after_commit(db, lambda: _invalidate(request, roll.id))
        return out

    @post("/{roll_id:uuid}/void", status_code=200, guards=[BRAND_WRITE])
    async def void_roll_range(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        acting_brand: NamedDependency[uuid.UUID],
        roll_id: FromPath[uuid.UUID],
        data: JSONBody[VoidRangeIn],
    ) -> RollDetailOut:
        """Void codes ``[seq_from, seq_to)`` with a reason. Final: activation cannot revive them."""
        roll = await rolls.get_roll(db, acting_brand, roll_id)
        await rolls.void_range(db, principal, roll, data.seq_from, data.seq_to, data.reason)
        out = await _roll_detail(db, roll)
        after_commit(db, lambda: _invalidate(request, roll.id))
        return out

    @post("/{roll_id:uuid}/bind-batch", status_code=200, guards=[BRAND_WRITE])
    async def bind_roll_batch(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        acting_brand: NamedDependency[uuid.UUID],
        roll_id: FromPath[uuid.UUID],
        data: JSONBody[BindBatchIn],
    ) -> RollDetailOut:
        """Bind codes ``[seq_from, seq_to)`` (whole roll if omitted) to a batch of the product."""
        roll = await rolls.get_roll(db, acting_brand, roll_id)
        await rolls.bind_batch_range(db, principal, roll, data.batch_id, data.seq_from, data.seq_to)
        out = await _roll_detail(db, roll)
        after_commit(db, lambda: _invalidate(request, roll.id))
        return out


class CodeController(Controller):
    path = "/v1/admin/codes"
    tags = TAGS
    security = SECURITY
    dependencies = DEPENDENCIES

    @post("/void", status_code=200, guards=[BRAND_WRITE])
    async def void_codes(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        acting_brand: NamedDependency[uuid.UUID],
        data: JSONBody[VoidCodesIn],
    ) -> VoidCodesOut:
        """Void single codes (damaged labels) by ``{gtin, code}``; a result per code.

        Results: ``voided``, ``invalid_code`` (fails verification), ``not_found`` (no roll of
        this brand), ``already_void``. One bad code never fails the call.
        """
        results, changed = await rolls.void_codes(
            db,
            _keyring(request),
            principal,
            acting_brand,
            [(c.gtin, c.code) for c in data.codes],
            data.reason,
        )
        after_commit(db, lambda: _invalidate(request, *changed))
        return VoidCodesOut(
            voided=sum(1 for r in results if r.result == "voided"),
            results=[
                VoidCodeResultOut(
                    gtin=r.gtin, code=r.code, result=r.result, roll_id=r.roll_id, seq=r.seq
                )
                for r in results
            ],
        )

    @get("/{gtin:str}/{code:str}")
    async def get_code(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[AsyncSession],
        acting_brand: NamedDependency[uuid.UUID],
        gtin: FromPath[str],
        code: FromPath[str],
    ) -> CodeLookupOut:
        """Look up one code: its roll, position, status, batch and product.

        404 ``unknown_code`` when the code does not verify for this GTIN or belongs to another
        brand.
        """
        found = await rolls.lookup_code(db, _keyring(request), acting_brand, gtin, code)
        return CodeLookupOut(
            gtin=found.gtin,
            code=found.code,
            valid=True,
            roll_id=found.roll_id,
            seq=found.seq,
            status=found.status,
            void_reason=found.void_reason,
            batch=found.batch,
            product=found.product,
        )


ROUTES: list[Any] = [RollController, CodeController]
