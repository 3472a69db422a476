"""Recalls: definition, scope and status (draft → active → closed), distributor confirmations.

A recall covers batches, material lots (expanded to every batch that consumed them, also
batches linked to the lot later) or code ranges of a roll. The scan path learns a code's
recall from its roll's compiled segments (``anticounterfeit.metadata``): callers invalidate
``affected_roll_ids`` after committing an activation or a change of an active recall.

The affected-set report and notifications compose other domains and live in ``admin_api``.
Functions flush, never commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from anticounterfeit.catalogue.models import Batch
from anticounterfeit.codes.models import CodeRangeEvent, CodeRoll
from anticounterfeit.trace.models import (
    RECALL_SEVERITIES,
    BatchMaterial,
    MaterialLot,
    Recall,
    RecallConfirmation,
    RecallScope,
    RecallStatus,
    ScopeKind,
)
from kernel.audit import record_audit
from kernel.auth import Principal
from kernel.db import utcnow
from kernel.errors import Conflict, InvalidInput, NotFound
from kernel.pagination import fetch_page

__all__ = [
    "DistributorProgress",
    "RecallStatus",
    "ScopeIn",
    "activate_recall",
    "affected_roll_ids",
    "close_recall",
    "confirm_quantities",
    "create_recall",
    "get_recall",
    "get_recall_any_brand",
    "list_recalls",
    "recall_batch_ids",
    "recall_progress",
    "recall_range_scopes",
    "recall_scopes",
    "update_recall",
]

EDITABLE = ("reason", "severity", "consumer_instructions", "distributor_instructions")


@dataclass(frozen=True, slots=True)
class ScopeIn:
    """One scope entry as given by a caller (``kind`` decides which ids are read)."""

    kind: str
    batch_id: uuid.UUID | None = None
    material_lot_id: uuid.UUID | None = None
    roll_id: uuid.UUID | None = None
    seq_start: int | None = None
    seq_end: int | None = None


def _not_found() -> NotFound:
    return NotFound("recall not found", code="recall_not_found")


async def get_recall(
    session: AsyncSession, brand_id: uuid.UUID, recall_id: uuid.UUID, *, lock: bool = False
) -> Recall:
    """The brand's recall; ``NotFound`` if absent or another brand's. ``lock``: row lock for
    a status change (two concurrent activations: the second sees the first's result)."""
    query = select(Recall).where(Recall.id == recall_id, Recall.brand_id == brand_id)
    recall = (
        await session.execute(query.with_for_update() if lock else query)
    ).scalar_one_or_none()
    if recall is None:
        raise _not_found()
    return recall


async def get_recall_any_brand(session: AsyncSession, recall_id: uuid.UUID) -> Recall:
    """A recall by id alone (for jobs such as notification delivery; not for requests)."""
    recall = await session.get(Recall, recall_id)
    if recall is None:
        raise _not_found()
    return recall


async def list_recalls(
    session: AsyncSession, brand_id: uuid.UUID, *, status: str | None, limit: int, offset: int
) -> tuple[list[Recall], int]:
    query = select(Recall).where(Recall.brand_id == brand_id)
    if status is not None:
        query = query.where(Recall.status == status)
    result: tuple[list[Recall], int] = await fetch_page(
        session, query.order_by(Recall.created_at.desc(), Recall.id), limit=limit, offset=offset
    )
    return result


def _check_severity(severity: str) -> None:
    if severity not in RECALL_SEVERITIES:
        raise InvalidInput(
            f"severity must be one of {', '.join(RECALL_SEVERITIES)}",
            code="invalid_severity",
            field="severity",
        )


async def _validated_scopes(
    session: AsyncSession, brand_id: uuid.UUID, scopes: Sequence[ScopeIn]
) -> list[RecallScope]:
    if not scopes:
        raise InvalidInput(
            "a recall needs at least one scope", code="scope_required", field="scopes"
        )
    out: list[RecallScope] = []
    for i, scope in enumerate(scopes):
        where = f"scopes[{i}]"
        if scope.kind == ScopeKind.BATCH:
            ok = (
                scope.batch_id is not None
                and (
                    await session.execute(
                        select(Batch.id).where(
                            Batch.id == scope.batch_id, Batch.brand_id == brand_id
                        )
                    )
                ).first()
            )
            if not ok:
                raise NotFound("batch not found", code="batch_not_found", field=f"{where}.batch_id")
            out.append(RecallScope(kind=scope.kind, batch_id=scope.batch_id))
        elif scope.kind == ScopeKind.MATERIAL_LOT:
            ok = (
                scope.material_lot_id is not None
                and (
                    await session.execute(
                        select(MaterialLot.id).where(
                            MaterialLot.id == scope.material_lot_id,
                            MaterialLot.brand_id == brand_id,
                        )
                    )
                ).first()
            )
            if not ok:
                raise NotFound(
                    "material lot not found",
                    code="material_lot_not_found",
                    field=f"{where}.material_lot_id",
                )
            out.append(RecallScope(kind=scope.kind, material_lot_id=scope.material_lot_id))
        elif scope.kind == ScopeKind.CODE_RANGE:
            roll = (
                (
                    await session.execute(
                        select(CodeRoll).where(
                            CodeRoll.id == scope.roll_id, CodeRoll.brand_id == brand_id
                        )
                    )
                ).scalar_one_or_none()
                if scope.roll_id is not None
                else None
            )
            if roll is None:
                raise NotFound("roll not found", code="roll_not_found", field=f"{where}.roll_id")
            start = 0 if scope.seq_start is None else scope.seq_start
            end = roll.count if scope.seq_end is None else scope.seq_end
            if not 0 <= start < end <= roll.count:
                raise InvalidInput(
                    f"the range must satisfy 0 <= seq_start < seq_end <= {roll.count}",
                    code="invalid_range",
                    field=f"{where}.seq_end",
                )
            out.append(RecallScope(kind=scope.kind, roll_id=roll.id, seq_start=start, seq_end=end))
        else:
            raise InvalidInput(
                f"kind must be one of {', '.join(ScopeKind.ALL)}",
                code="invalid_scope_kind",
                field=f"{where}.kind",
            )
    return out


async def create_recall(
    session: AsyncSession,
    actor: Principal | None,
    brand_id: uuid.UUID,
    *,
    reason: str,
    severity: str,
    consumer_instructions: str,
    distributor_instructions: str,
    scopes: Sequence[ScopeIn],
) -> Recall:
    """A new recall in ``draft``: nothing is shown to consumers until it is activated."""
    _check_severity(severity)
    rows = await _validated_scopes(session, brand_id, scopes)
    now = utcnow()
    recall = Recall(
        id=uuid.uuid4(),
        brand_id=brand_id,
        reason=reason,
        severity=severity,
        consumer_instructions=consumer_instructions,
        distributor_instructions=distributor_instructions,
        status=RecallStatus.DRAFT,
        version=1,
        created_at=now,
        updated_at=now,
        created_by=actor.subject if actor else None,
    )
    session.add(recall)
    await session.flush()
    for row in rows:
        row.recall_id = recall.id
        session.add(row)
    await session.flush()
    record_audit(
        session,
        actor,
        "recall.create",
        target_type="recall",
        target_id=recall.id,
        brand_id=brand_id,
        details={"severity": severity, "scopes": len(rows)},
    )
    return recall


async def update_recall(
    session: AsyncSession,
    actor: Principal | None,
    brand_id: uuid.UUID,
    recall_id: uuid.UUID,
    changes: dict[str, object],
    scopes: Sequence[ScopeIn] | None,
) -> tuple[Recall, set[uuid.UUID]]:
    """Change a draft or active recall; returns it and the rolls it covered before the change
    (callers invalidate those and the ones it covers now)."""
    recall = await get_recall(session, brand_id, recall_id, lock=True)
    if recall.status == RecallStatus.CLOSED:
        raise Conflict("a closed recall cannot change", code="recall_closed", field="status")
    before = await affected_roll_ids(session, recall)
    applied = {k: v for k, v in changes.items() if k in EDITABLE}
    if "severity" in applied:
        _check_severity(str(applied["severity"]))
    for key, value in applied.items():
        setattr(recall, key, value)
    if scopes is not None:
        rows = await _validated_scopes(session, brand_id, scopes)
        for old in await recall_scopes(session, recall.id):
            await session.delete(old)
        await session.flush()
        for row in rows:
            row.recall_id = recall.id
            session.add(row)
    recall.version += 1
    recall.updated_at = utcnow()
    await session.flush()
    record_audit(
        session,
        actor,
        "recall.update",
        target_type="recall",
        target_id=recall.id,
        brand_id=brand_id,
        details={"fields": sorted(applied), "scopes_replaced": scopes is not None},
    )
    return recall, before


async def _move(
    session: AsyncSession,
    actor: Principal | None,
    brand_id: uuid.UUID,
    recall_id: uuid.UUID,
    *,
    source: str,
    target: str,
    refusal: str,
    action: str,
) -> Recall:
    """One status transition under a row lock: check, change, stamp, audit."""
    recall = await get_recall(session, brand_id, recall_id, lock=True)
    if recall.status != source:
        raise Conflict(
            f"only a {source} recall can become {target} (this one is {recall.status})",
            code=refusal,
            field="status",
        )
    now = utcnow()
    recall.status = target
    if target == RecallStatus.ACTIVE:
        recall.activated_at = now
    else:
        recall.closed_at = now
    recall.updated_at = now
    recall.version += 1
    await session.flush()
    record_audit(
        session,
        actor,
        f"recall.{target}",
        target_type="recall",
        target_id=recall.id,
        brand_id=brand_id,
    )
    return recall


async def activate_recall(
    session: AsyncSession, actor: Principal | None, brand_id: uuid.UUID, recall_id: uuid.UUID
) -> Recall:
    """draft → active: from the commit on, scans of affected codes carry the notice."""
    return await _move(
        session,
        actor,
        brand_id,
        recall_id,
        source=RecallStatus.DRAFT,
        target=RecallStatus.ACTIVE,
        refusal="recall_not_draft",
        action="recall.activate",
    )


async def close_recall(
    session: AsyncSession, actor: Principal | None, brand_id: uuid.UUID, recall_id: uuid.UUID
) -> Recall:
    """active → closed: scans stop showing the notice; history (hits, confirmations) stays."""
    return await _move(
        session,
        actor,
        brand_id,
        recall_id,
        source=RecallStatus.ACTIVE,
        target=RecallStatus.CLOSED,
        refusal="recall_not_active",
        action="recall.close",
    )


# ---------------------------------------------------------------------------------------------
# Scope expansion
# ---------------------------------------------------------------------------------------------
async def recall_scopes(session: AsyncSession, recall_id: uuid.UUID) -> list[RecallScope]:
    return list(
        (
            await session.execute(
                select(RecallScope)
                .where(RecallScope.recall_id == recall_id)
                .order_by(RecallScope.id)
            )
        ).scalars()
    )


async def recall_batch_ids(session: AsyncSession, recall: Recall) -> set[uuid.UUID]:
    """Batches the recall covers: named ones and those that consumed a named material lot."""
    scopes = await recall_scopes(session, recall.id)
    batch_ids = {s.batch_id for s in scopes if s.kind == ScopeKind.BATCH and s.batch_id}
    lot_ids = [s.material_lot_id for s in scopes if s.kind == ScopeKind.MATERIAL_LOT]
    if lot_ids:
        rows = await session.execute(
            select(BatchMaterial.batch_id).where(
                BatchMaterial.brand_id == recall.brand_id,
                BatchMaterial.material_lot_id.in_(lot_ids),
            )
        )
        batch_ids.update(rows.scalars())
    return batch_ids


async def recall_range_scopes(
    session: AsyncSession, recall: Recall
) -> list[tuple[uuid.UUID, int, int]]:
    """The explicit code-range scopes: (roll id, seq_start, seq_end)."""
    return [
        (s.roll_id, int(s.seq_start or 0), int(s.seq_end or 0))
        for s in await recall_scopes(session, recall.id)
        if s.kind == ScopeKind.CODE_RANGE and s.roll_id is not None
    ]


async def affected_roll_ids(session: AsyncSession, recall: Recall) -> set[uuid.UUID]:
    """Rolls holding any code the recall covers (whose cached metadata must be rebuilt)."""
    batch_ids = await recall_batch_ids(session, recall)
    roll_ids = {roll_id for roll_id, _, _ in await recall_range_scopes(session, recall)}
    if batch_ids:
        rebound = select(CodeRangeEvent.roll_id).where(CodeRangeEvent.batch_id.in_(batch_ids))
        rows = await session.execute(
            select(CodeRoll.id).where(
                CodeRoll.brand_id == recall.brand_id,
                or_(CodeRoll.batch_id.in_(batch_ids), CodeRoll.id.in_(rebound)),
            )
        )
        roll_ids.update(rows.scalars())
    return roll_ids


# ---------------------------------------------------------------------------------------------
# Distributor confirmations
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DistributorProgress:
    distributor_id: uuid.UUID
    quarantined: int
    returned: int
    confirmed_at: datetime
    note: str | None


async def confirm_quantities(
    session: AsyncSession,
    brand_id: uuid.UUID,
    recall_id: uuid.UUID,
    distributor_id: uuid.UUID,
    *,
    quarantined: int,
    returned: int,
    note: str | None,
    confirmed_by: str | None,
) -> RecallConfirmation:
    """A distributor reports its current quarantined and returned totals (latest wins)."""
    recall = await get_recall(session, brand_id, recall_id)
    if recall.status != RecallStatus.ACTIVE:
        raise Conflict(
            f"confirmations are taken while a recall is active (this one is {recall.status})",
            code="recall_not_active",
            field="status",
        )
    for name, value in (("quarantined", quarantined), ("returned", returned)):
        if value < 0:
            raise InvalidInput(f"{name} must be >= 0", code="invalid_quantity", field=name)
    row = RecallConfirmation(
        recall_id=recall.id,
        brand_id=brand_id,
        distributor_id=distributor_id,
        quarantined=quarantined,
        returned=returned,
        note=note,
        confirmed_at=utcnow(),
        confirmed_by=confirmed_by,
    )
    session.add(row)
    await session.flush()
    record_audit(
        session,
        None,
        "recall.confirm",
        target_type="recall",
        target_id=recall.id,
        brand_id=brand_id,
        details={
            "distributor_id": str(distributor_id),
            "quarantined": quarantined,
            "returned": returned,
            "by": confirmed_by,
        },
    )
    return row


async def recall_progress(
    session: AsyncSession, recall_id: uuid.UUID
) -> dict[uuid.UUID, DistributorProgress]:
    """The latest confirmation of each distributor."""
    rows = await session.execute(
        select(RecallConfirmation)
        .where(RecallConfirmation.recall_id == recall_id)
        .order_by(RecallConfirmation.id)
    )
    latest: dict[uuid.UUID, DistributorProgress] = {}
    for row in rows.scalars():
        latest[row.distributor_id] = DistributorProgress(
            row.distributor_id, row.quarantined, row.returned, row.confirmed_at, row.note
        )
    return latest
