"""Brand managers' side of diversion alerts: list, detail with evidence, lifecycle, the rule.

Lifecycle: ``open`` → ``acknowledged`` → ``confirmed`` | ``dismissed``. Any other move is a
409 ``invalid_transition``. Every move and note writes an alert history row (who, when,
note), an audit entry and an outbox event (``diversion.alert.acknowledged`` / ``.confirmed``
/ ``.dismissed``) in the request's transaction. Every query is scoped by brand: another
brand's alert is a 404.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, desc, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from channel_control.diversion.models import (
    DiversionAlert,
    DiversionAlertEvent,
    DiversionRule,
    DiversionSignal,
)
from channel_control.diversion.recorder import RuleValues, alert_event_payload, rule_for
from kernel.audit import record_audit
from kernel.auth import Principal
from kernel.db import utcnow
from kernel.errors import Conflict, NotFound
from kernel.outbox import emit
from kernel.pagination import fetch_page

__all__ = [
    "TRANSITIONS",
    "add_note",
    "alert_detail",
    "get_alert",
    "get_rule",
    "list_alerts",
    "put_rule",
    "transition",
]

get_rule = rule_for  # (the brand's rule, is it the default)

# action -> (statuses it may start from, status it leads to)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "acknowledge": (frozenset({"open"}), "acknowledged"),
    "confirm": (frozenset({"acknowledged"}), "confirmed"),
    "dismiss": (frozenset({"acknowledged"}), "dismissed"),
}
CLOSED = frozenset({"confirmed", "dismissed"})


async def list_alerts(
    session: AsyncSession,
    brand_id: uuid.UUID,
    *,
    status: str | None,
    distributor_id: uuid.UUID | None,
    area: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    offset: int,
) -> tuple[list[DiversionAlert], int]:
    """The brand's alerts, newest first."""
    query: Select[Any] = select(DiversionAlert).where(DiversionAlert.brand_id == brand_id)
    if status is not None:
        query = query.where(DiversionAlert.status == status)
    if distributor_id is not None:
        query = query.where(DiversionAlert.distributor_id == distributor_id)
    if area is not None:
        query = query.where(DiversionAlert.area == area)
    if since is not None:
        query = query.where(DiversionAlert.opened_at >= since)
    if until is not None:
        query = query.where(DiversionAlert.opened_at < until)
    query = query.order_by(desc(DiversionAlert.opened_at), DiversionAlert.id)
    return await fetch_page(session, query, limit=limit, offset=offset)


async def get_alert(
    session: AsyncSession, brand_id: uuid.UUID, alert_id: uuid.UUID, *, lock: bool = False
) -> DiversionAlert:
    query = select(DiversionAlert).where(
        DiversionAlert.id == alert_id, DiversionAlert.brand_id == brand_id
    )
    if lock:
        query = query.with_for_update()
    alert = (await session.execute(query)).scalar_one_or_none()
    if alert is None:
        raise NotFound("no such alert", code="alert_not_found", field="alert_id")
    return alert


async def alert_detail(
    session: AsyncSession, brand_id: uuid.UUID, alert_id: uuid.UUID, *, signal_limit: int
) -> tuple[DiversionAlert, list[DiversionAlertEvent], list[DiversionSignal], int]:
    """The alert, its history (oldest first) and its evidence (newest first)."""
    alert = await get_alert(session, brand_id, alert_id)
    history = (
        (
            await session.execute(
                select(DiversionAlertEvent)
                .where(DiversionAlertEvent.alert_id == alert.id)
                .order_by(DiversionAlertEvent.id)
            )
        )
        .scalars()
        .all()
    )
    signals = (
        (
            await session.execute(
                select(DiversionSignal)
                .where(DiversionSignal.alert_id == alert.id)
                .order_by(desc(DiversionSignal.observed_at), desc(DiversionSignal.id))
                .limit(signal_limit)
            )
        )
        .scalars()
        .all()
    )
    total = await session.scalar(select(func.count()).where(DiversionSignal.alert_id == alert.id))
    return alert, list(history), list(signals), int(total or 0)


async def transition(
    session: AsyncSession,
    principal: Principal,
    brand_id: uuid.UUID,
    alert_id: uuid.UUID,
    action: str,
    note: str | None,
) -> DiversionAlert:
    """Move the alert (``acknowledge``, ``confirm``, ``dismiss``); 409 when not allowed."""
    sources, target = TRANSITIONS[action]
    alert = await get_alert(session, brand_id, alert_id, lock=True)
    if alert.status not in sources:
        raise Conflict(
            f"an alert that is {alert.status} cannot be {target}"
            f" (allowed from: {', '.join(sorted(sources))})",
            code="invalid_transition",
            field="status",
        )
    before = alert.status
    now = utcnow()
    alert.status = target
    alert.updated_at = now
    alert.updated_by = principal.username
    if target in CLOSED:
        alert.open_key = None  # the group may open a new alert with fresh evidence
    session.add(
        DiversionAlertEvent(
            alert_id=alert.id,
            at=now,
            action=action,
            from_status=before,
            to_status=target,
            actor_id=principal.subject,
            actor_name=principal.username,
            note=note,
        )
    )
    record_audit(
        session,
        principal,
        f"diversion.alert.{action}",
        target_type="diversion_alert",
        target_id=alert.id,
        brand_id=brand_id,
        details={"from": before, "to": target, "note": note},
    )
    emit(
        session,
        brand_id=brand_id,
        event_type=f"diversion.alert.{target}",
        subject_type="diversion_alert",
        subject_id=alert.id,
        payload={**alert_event_payload(alert), "note": note, "by": principal.username},
    )
    await session.flush()
    return alert


async def add_note(
    session: AsyncSession,
    principal: Principal,
    brand_id: uuid.UUID,
    alert_id: uuid.UUID,
    note: str,
) -> DiversionAlert:
    """Add a note to the alert's history without changing its status."""
    alert = await get_alert(session, brand_id, alert_id, lock=True)
    now = utcnow()
    alert.updated_at = now
    alert.updated_by = principal.username
    session.add(
        DiversionAlertEvent(
            alert_id=alert.id,
            at=now,
            action="note",
            from_status=alert.status,
            to_status=alert.status,
            actor_id=principal.subject,
            actor_name=principal.username,
            note=note,
        )
    )
    record_audit(
        session,
        principal,
        "diversion.alert.note",
        target_type="diversion_alert",
        target_id=alert.id,
        brand_id=brand_id,
        details={"note": note},
    )
    await session.flush()
    return alert


async def put_rule(
    session: AsyncSession, principal: Principal, brand_id: uuid.UUID, rule: RuleValues
) -> RuleValues:
    """Replace the brand's rule (applies to signals flushed from now on)."""
    row = await session.get(DiversionRule, brand_id, with_for_update=True)
    before = None
    if row is None:
        row = DiversionRule(brand_id=brand_id)
        session.add(row)
    else:
        before = {
            "min_distinct_codes": row.min_distinct_codes,
            "window_hours": row.window_hours,
            "min_confidence": row.min_confidence,
            "enabled": row.enabled,
        }
    row.min_distinct_codes = rule.min_distinct_codes
    row.window_hours = rule.window_hours
    row.min_confidence = rule.min_confidence
    row.enabled = rule.enabled
    row.updated_at = utcnow()
    record_audit(
        session,
        principal,
        "diversion.rule.update",
        target_type="brand",
        target_id=brand_id,
        brand_id=brand_id,
        details={"before": before, "after": rule.as_json()},
    )
    await session.flush()
    return rule
