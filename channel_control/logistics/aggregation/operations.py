"""Idempotent aggregation operations: one row per call, replayed by key and request fingerprint;
per-input failures."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from anticounterfeit.codes.identity import split_code_id
from channel_control.logistics.aggregation.containers import ContainerRef
from channel_control.logistics.models import (
    AggregationOperation,
)
from channel_control.logistics.units import (
    Failure,
    RangeInput,
)
from kernel.auth import Principal
from kernel.db import utcnow
from kernel.errors import Conflict

__all__ = ["Tally", "begin", "failure_out", "range_fail", "request_doc"]


def request_doc(
    container: ContainerRef,
    codes: list[str],
    ranges: list[RangeInput],
    cases: list[ContainerRef],
    **options: Any,
) -> dict[str, Any]:
    """The request as stored for idempotent replays (its hash is compared)."""
    return {
        "container": asdict(container),
        "codes": codes,
        "ranges": [asdict(r) for r in ranges],
        "cases": [asdict(c) for c in cases],
        **options,
    }


def _fingerprint(request: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()


async def begin(
    session: AsyncSession,
    brand_id: uuid.UUID,
    action: str,
    idempotency_key: str | None,
    request: dict[str, Any],
    actor: Principal | None,
) -> AggregationOperation | dict[str, Any]:
    """A new operation row, or the stored result of the same earlier request (a replay)."""
    digest = _fingerprint({"action": action, **request})
    if idempotency_key is not None:
        existing = await session.scalar(
            select(AggregationOperation).where(
                AggregationOperation.brand_id == brand_id,
                AggregationOperation.idempotency_key == idempotency_key,
            )
        )
        if existing is not None:
            if existing.request_sha256 != digest:
                raise Conflict(
                    "this Idempotency-Key was used for a different request",
                    code="idempotency_key_reused",
                    field="Idempotency-Key",
                )
            return {**existing.result, "replayed": True}
    operation = AggregationOperation(
        id=uuid.uuid4(),
        brand_id=brand_id,
        action=action,
        idempotency_key=idempotency_key,
        request_sha256=digest,
        result={},
        created_at=utcnow(),
        created_by=actor.subject if actor else None,
    )
    session.add(operation)
    try:
        await session.flush()
    except IntegrityError as exc:  # the same key raced in from another request
        raise Conflict(
            "a request with this Idempotency-Key is in progress; retry",
            code="idempotency_key_in_use",
            field="Idempotency-Key",
        ) from exc
    return operation


def failure_out(failure: Failure, **extra: Any) -> dict[str, Any]:
    return {**asdict(failure), **extra}


@dataclass(slots=True)
class Tally:
    must_hold: uuid.UUID | None = None  # a distributor acting: children must be at its place
    units: int = 0
    containers: int = 0
    unchanged: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)


def range_fail(
    tally: Tally, text: str, fieldname: str, code: str, detail: str, lo: int, hi: int
) -> None:
    kid, index = split_code_id(lo)
    tally.failures.append(
        failure_out(Failure(text, fieldname, code, detail), count=hi - lo, kid=kid, index=index)
    )
