"""Alert rules: a brand's rule, and applying it to the groups that got new signals (opening
alerts, attaching signals to open ones). Runs inside the recorder's flush transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import ARRAY, BigInteger, ColumnElement, any_, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from channel_control.diversion.models import (
    DiversionAlert,
    DiversionAlertEvent,
    DiversionRule,
    DiversionSignal,
)
from channel_control.diversion.signals import _AT, _CODE, _CONFIDENCE, GroupKey, Signal
from kernel.outbox import emit

__all__ = [
    "DEFAULT_RULE",
    "RuleValues",
    "alert_event_payload",
    "apply_rules",
    "attach_to_open_alerts",
    "open_key_of",
    "rule_for",
]

log = structlog.get_logger("channel_control.diversion")


@dataclass(frozen=True, slots=True)
class RuleValues:
    """A brand's alert rule (``DiversionRule`` row, or the defaults)."""

    min_distinct_codes: int = 3
    window_hours: int = 72
    min_confidence: float = 0.0
    enabled: bool = True

    def as_json(self) -> dict[str, Any]:
        return {
            "min_distinct_codes": self.min_distinct_codes,
            "window_hours": self.window_hours,
            "min_confidence": self.min_confidence,
            "enabled": self.enabled,
        }


DEFAULT_RULE = RuleValues()


# ---------------------------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------------------------
async def rule_for(session: AsyncSession, brand_id: uuid.UUID) -> tuple[RuleValues, bool]:
    """(the brand's rule, whether it is the default: the brand never set one)."""
    row = await session.get(DiversionRule, brand_id)
    if row is None:
        return DEFAULT_RULE, True
    rule = RuleValues(
        min_distinct_codes=row.min_distinct_codes,
        window_hours=row.window_hours,
        min_confidence=row.min_confidence,
        enabled=row.enabled,
    )
    return rule, False


def open_key_of(brand_id: uuid.UUID, distributor_id: uuid.UUID, area: str) -> str:
    return f"{brand_id}:{distributor_id}:{area}"


def alert_event_payload(alert: DiversionAlert) -> dict[str, Any]:
    """The outbox / SSE payload of an alert.

    The distributor is ``suspect_distributor_id``, deliberately not ``distributor_id``:
    the notification router sends events carrying ``distributor_id`` to that distributor's
    inbox, and an investigation must not tip off the suspect.
    """
    return {
        "alert_id": str(alert.id),
        "brand_id": str(alert.brand_id),
        "suspect_distributor_id": str(alert.distributor_id),
        "distributor_name": alert.distributor_name,
        "area": alert.area,
        "status": alert.status,
        "distinct_codes": alert.distinct_codes,
        "signal_count": alert.signal_count,
        "first_seen_at": alert.first_seen_at.isoformat(),
        "last_seen_at": alert.last_seen_at.isoformat(),
    }


async def _open_alert(
    session: AsyncSession,
    group: tuple[uuid.UUID, uuid.UUID, str],
    rule: RuleValues,
    now: datetime,
    *,
    codes: int,
    count: int,
    seen: tuple[datetime, datetime],
    name: str,
) -> DiversionAlert:
    """Open the group's alert with its "opened" event, emitted through the outbox."""
    brand_id, distributor_id, area = group
    alert = DiversionAlert(
        id=uuid.uuid4(),
        brand_id=brand_id,
        distributor_id=distributor_id,
        distributor_name=name,
        area=area,
        status="open",
        open_key=open_key_of(brand_id, distributor_id, area),
        distinct_codes=codes,
        signal_count=count,
        first_seen_at=seen[0],
        last_seen_at=seen[1],
        opened_at=now,
        rule=rule.as_json(),
        updated_at=now,
        updated_by="system",
    )
    session.add(alert)
    session.add(
        DiversionAlertEvent(
            alert_id=alert.id,
            at=now,
            action="opened",
            from_status=None,
            to_status="open",
            actor_id=None,
            actor_name="system",
            note=None,
        )
    )
    await session.flush()
    payload = alert_event_payload(alert)
    emit(
        session,
        brand_id=brand_id,
        event_type="diversion.alert.opened",
        subject_type="diversion_alert",
        subject_id=alert.id,
        payload=payload,
    )
    log.info(
        "channel_control.diversion.alert_opened",
        alert_id=str(alert.id),
        area=area,
        distinct_codes=codes,
    )
    return alert


async def apply_rules(
    session: AsyncSession,
    groups: set[tuple[uuid.UUID, uuid.UUID, str]],
    now: datetime,
) -> list[dict[str, Any]]:
    """Attach new signals to open alerts, open alerts where a rule is met; return the opened
    alerts' payloads (to broadcast after commit).

    Work per group is proportional to its *new* signals: an open alert's counts grow by what
    joins it (codes already in the alert found through the (alert_id, code_id) index), never
    by recounting everything it holds.
    """
    opened: list[dict[str, Any]] = []
    rules: dict[uuid.UUID, RuleValues] = {}
    held = aliased(DiversionSignal)
    for brand_id, distributor_id, area in sorted(groups, key=str):
        rule = rules.get(brand_id)
        if rule is None:
            rule = rules[brand_id] = (await rule_for(session, brand_id))[0]
        if not rule.enabled:
            continue
        pending = (
            DiversionSignal.brand_id == brand_id,
            DiversionSignal.distributor_id == distributor_id,
            DiversionSignal.area == area,
            DiversionSignal.alert_id.is_(None),
            DiversionSignal.observed_at >= now - timedelta(hours=rule.window_hours),
            DiversionSignal.location_confidence >= rule.min_confidence,
        )
        key = open_key_of(brand_id, distributor_id, area)
        alert = (
            await session.execute(select(DiversionAlert).where(DiversionAlert.open_key == key))
        ).scalar_one_or_none()
        codes_query = select(func.count(func.distinct(DiversionSignal.code_id))).where(*pending)
        if alert is not None:  # only codes the alert does not hold yet are new to it
            codes_query = codes_query.where(
                ~select(held.id)
                .where(held.alert_id == alert.id, held.code_id == DiversionSignal.code_id)
                .exists()
            )
        count, first_seen, last_seen, name = (
            await session.execute(
                select(
                    func.count(),
                    func.min(DiversionSignal.observed_at),
                    func.max(DiversionSignal.observed_at),
                    func.max(DiversionSignal.distributor_name),
                ).where(*pending)
            )
        ).one()
        if not count:
            continue
        codes = int(await session.scalar(codes_query) or 0)
        if alert is None:
            if codes < rule.min_distinct_codes:
                continue
            alert = await _open_alert(
                session,
                (brand_id, distributor_id, area),
                rule,
                now,
                codes=codes,
                count=int(count),
                seen=(_aware(first_seen), _aware(last_seen)),
                name=name,
            )
            opened.append(alert_event_payload(alert))
        else:
            alert.signal_count += int(count)
            alert.distinct_codes += codes
            alert.first_seen_at = min(alert.first_seen_at, _aware(first_seen))
            alert.last_seen_at = max(alert.last_seen_at, _aware(last_seen))
        await session.execute(
            update(DiversionSignal)
            .where(*pending)
            .values(alert_id=alert.id)
            .execution_options(synchronize_session=False)
        )
    return opened


async def attach_to_open_alerts(
    session: AsyncSession,
    signals: list[Signal],
    groups: dict[GroupKey, list[int]],
    now: datetime,
) -> dict[int, uuid.UUID]:
    """The alert (by position in ``signals``) of each new signal whose group already has an
    open alert, added to that alert's counts before the signals are inserted.

    Attaching them afterwards (``apply_rules``) would write every such signal twice: an
    insert, then an update of an indexed column. On a promotion day most diverted scans of a
    distributor fall in areas already under an open alert.
    """
    if not groups:
        return {}
    by_key = {open_key_of(*group): group for group in groups}
    alerts = (
        (await session.execute(select(DiversionAlert).where(DiversionAlert.open_key.in_(by_key))))
        .scalars()
        .all()
    )
    attached: dict[int, uuid.UUID] = {}
    rules: dict[uuid.UUID, RuleValues] = {}
    among = _code_among_postgres if session.get_bind().dialect.name == "postgresql" else _code_among
    for alert in alerts:
        rule = rules.get(alert.brand_id)
        if rule is None:
            rule = rules[alert.brand_id] = (await rule_for(session, alert.brand_id))[0]
        if not rule.enabled:
            continue
        since = now - timedelta(hours=rule.window_hours)
        joining = [
            i
            for i in groups[by_key[alert.open_key or ""]]
            if signals[i][_CONFIDENCE] >= rule.min_confidence and signals[i][_AT] >= since
        ]
        if not joining:
            continue
        codes = {signals[i][_CODE] for i in joining}
        held = set(
            (
                await session.execute(
                    select(DiversionSignal.code_id)
                    .where(DiversionSignal.alert_id == alert.id, among(codes))
                    .distinct()
                )
            ).scalars()
        )
        times = [signals[i][_AT] for i in joining]
        for i in joining:
            attached[i] = alert.id
        alert.signal_count += len(joining)
        alert.distinct_codes += len(codes - held)
        alert.first_seen_at = min(alert.first_seen_at, min(times))
        alert.last_seen_at = max(alert.last_seen_at, max(times))
    await session.flush()
    return attached


def _code_among(codes: set[int]) -> ColumnElement[bool]:
    return DiversionSignal.code_id.in_(codes)


def _code_among_postgres(codes: set[int]) -> ColumnElement[bool]:
    """``code_id = ANY(:codes)``: one array parameter where ``IN`` renders and binds one
    parameter per code (thousands per flush on a promotion day, and a statement text the
    driver has never prepared each time)."""
    return DiversionSignal.code_id == any_(literal(sorted(codes), ARRAY(BigInteger)))


def _aware(value: datetime) -> datetime:
    """Aggregates over a UTCDateTime column come back raw (naive on SQLite)."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
