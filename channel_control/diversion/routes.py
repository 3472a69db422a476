"""Diversion API for brand managers: alerts (list, detail with evidence, lifecycle, live
stream), the alert rule, and statistics (rates per distributor, map counts, time series).

Under ``/v1/admin/diversion``, scoped like every brand route: brand admins act on alerts and
the rule, brand viewers read; another brand's alert is a 404.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from litestar import Controller, Request, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage

from channel_control.diversion import alerts as diversion_alerts
from channel_control.diversion import stats as diversion_stats
from channel_control.diversion.recorder import RuleValues
from channel_control.diversion.schemas import (
    AlertDetail,
    AlertEventOut,
    AlertOut,
    AlertPage,
    MapCell,
    NoteIn,
    RateOut,
    RuleIn,
    RuleOut,
    SeriesPoint,
    SignalOut,
    TransitionIn,
)
from channel_control.diversion.stream import AlertBroadcaster
from kernel.db import ReadDb
from kernel.guards import BRAND_READ, BRAND_WRITE
from kernel.pagination import Limit, Offset
from kernel.tenancy import SECURITY, ActingBrand, Caller, Db, scoped_dependencies

__all__ = ["ROUTES", "DiversionController"]

KEEPALIVE_S = 15.0

Status = Literal["open", "acknowledged", "confirmed", "dismissed"]
Action = Literal["acknowledge", "confirm", "dismiss"]
Area = Annotated[
    str | None, QueryParameter(max_length=10, description="observed region or country")
]
SignalLimit = Annotated[
    int, QueryParameter(ge=1, le=1000, description="evidence rows to include (newest first)")
]


class DiversionController(Controller):
    path = "/v1/admin/diversion"
    tags = ("channel",)
    security = SECURITY
    dependencies = scoped_dependencies()

    # ---- alerts ---------------------------------------------------------------------------
    @get("/alerts", guards=[BRAND_READ])
    async def list_alerts(
        self,
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        status: FromQuery[Status | None] = None,
        distributor_id: FromQuery[uuid.UUID | None] = None,
        area: Area = None,
        since: FromQuery[datetime | None] = None,
        until: FromQuery[datetime | None] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> AlertPage:
        """The brand's diversion alerts, newest first (filter by status, distributor, observed
        area, opening time)."""
        rows, total = await diversion_alerts.list_alerts(
            db,
            acting_brand,
            status=status,
            distributor_id=distributor_id,
            area=area,
            since=since,
            until=until,
            limit=limit,
            offset=offset,
        )
        return AlertPage(
            items=[AlertOut.of(a) for a in rows], total=total, limit=limit, offset=offset
        )

    @get("/alerts/stream", guards=[BRAND_READ])
    async def stream_alerts(
        self, request: Request[Any, Any, Any], principal: Caller, acting_brand: ActingBrand
    ) -> ServerSentEvent:
        """Server-sent events: ``ready`` once subscribed, then ``diversion.alert.opened`` for
        each new alert of the brand (data: the alert as JSON), comments as keep-alives."""
        broadcaster: AlertBroadcaster = request.app.state.alert_stream

        async def events() -> AsyncIterator[ServerSentEventMessage]:
            with broadcaster.subscription(acting_brand) as queue:
                yield ServerSentEventMessage(event="ready", data="{}")
                while True:
                    try:
                        payload = await asyncio.wait_for(queue.get(), timeout=KEEPALIVE_S)
                    except TimeoutError:
                        yield ServerSentEventMessage(comment="keep-alive")
                        continue
                    yield ServerSentEventMessage(
                        event="diversion.alert.opened",
                        id=payload["alert_id"],
                        data=json.dumps(payload),
                    )

        return ServerSentEvent(events(), headers={"Cache-Control": "no-store"})

    @get("/alerts/{alert_id:uuid}", guards=[BRAND_READ])
    async def get_alert(
        self,
        alert_id: FromPath[uuid.UUID],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
        signal_limit: SignalLimit = 100,
    ) -> AlertDetail:
        """One alert with its history and its evidence (the signals: code, product, batch,
        shipment, distributor, expected territory, observed place, source and confidence)."""
        alert, history, signals, total = await diversion_alerts.alert_detail(
            db, acting_brand, alert_id, signal_limit=signal_limit
        )
        return AlertDetail(
            alert=AlertOut.of(alert),
            history=[AlertEventOut.of(e) for e in history],
            signals=[SignalOut.of(s) for s in signals],
            signal_total=total,
        )

    @post("/alerts/{alert_id:uuid}/{action:str}", status_code=200, guards=[BRAND_WRITE])
    async def move_alert(
        self,
        alert_id: FromPath[uuid.UUID],
        action: FromPath[Action],
        data: JSONBody[TransitionIn],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
    ) -> AlertOut:
        """Move the alert: ``acknowledge`` (open → acknowledged), ``confirm`` (acknowledged →
        confirmed: diversion established) or ``dismiss`` (acknowledged → dismissed: a false
        alarm), with an optional note. Any other move is 409 ``invalid_transition``."""
        alert = await diversion_alerts.transition(
            db, principal, acting_brand, alert_id, action, data.note
        )
        return AlertOut.of(alert)

    @post("/alerts/{alert_id:uuid}/notes", status_code=201, guards=[BRAND_WRITE])
    async def add_alert_note(
        self,
        alert_id: FromPath[uuid.UUID],
        data: JSONBody[NoteIn],
        principal: Caller,
        acting_brand: ActingBrand,
        db: Db,
    ) -> AlertOut:
        """Add a note to the alert's history (any status)."""
        alert = await diversion_alerts.add_note(db, principal, acting_brand, alert_id, data.note)
        return AlertOut.of(alert)

    # ---- rule -----------------------------------------------------------------------------
    @get("/rule", guards=[BRAND_READ])
    async def get_rule(self, principal: Caller, acting_brand: ActingBrand, db: Db) -> RuleOut:
        """The brand's alert rule (the defaults until one is set)."""
        rule, is_default = await diversion_alerts.get_rule(db, acting_brand)
        return RuleOut(**rule.as_json(), is_default=is_default)

    @put("/rule", guards=[BRAND_WRITE])
    async def put_rule(
        self, data: JSONBody[RuleIn], principal: Caller, acting_brand: ActingBrand, db: Db
    ) -> RuleOut:
        """Set the alert rule: an alert opens when at least ``min_distinct_codes`` distinct codes
        of one distributor's units were seen in the same foreign area within ``window_hours``,
        counting signals located with at least ``min_confidence``."""
        rule = await diversion_alerts.put_rule(
            db,
            principal,
            acting_brand,
            RuleValues(
                min_distinct_codes=data.min_distinct_codes,
                window_hours=data.window_hours,
                min_confidence=data.min_confidence,
                enabled=data.enabled,
            ),
        )
        return RuleOut(**rule.as_json(), is_default=False)

    # ---- statistics -----------------------------------------------------------------------
    @get("/rates", guards=[BRAND_READ])
    async def get_rates(
        self,
        principal: Caller,
        acting_brand: ActingBrand,
        read_db: ReadDb,
        since: FromQuery[datetime | None] = None,
        until: FromQuery[datetime | None] = None,
    ) -> list[RateOut]:
        """Diversion rate per distributor: diverted / located consumer scans of its units
        (default: the last 30 days), highest rate first."""
        start, end = diversion_stats.time_range(since, until)
        return await diversion_stats.diversion_rates(read_db, acting_brand, start, end)

    @get("/map", guards=[BRAND_READ])
    async def get_map(
        self,
        principal: Caller,
        acting_brand: ActingBrand,
        read_db: ReadDb,
        since: FromQuery[datetime | None] = None,
        until: FromQuery[datetime | None] = None,
        distributor_id: FromQuery[uuid.UUID | None] = None,
        diverted_only: FromQuery[bool] = False,
    ) -> list[MapCell]:
        """Located and diverted scans per (distributor, observed area), for a map."""
        start, end = diversion_stats.time_range(since, until)
        return await diversion_stats.diversion_map(
            read_db,
            acting_brand,
            start,
            end,
            distributor_id=distributor_id,
            diverted_only=diverted_only,
        )

    @get("/timeseries", guards=[BRAND_READ])
    async def get_timeseries(
        self,
        principal: Caller,
        acting_brand: ActingBrand,
        read_db: ReadDb,
        bucket: FromQuery[Literal["hour", "day"]] = "day",
        since: FromQuery[datetime | None] = None,
        until: FromQuery[datetime | None] = None,
        distributor_id: FromQuery[uuid.UUID | None] = None,
        area: Area = None,
    ) -> list[SeriesPoint]:
        """Located and diverted scans per hour or day (UTC), oldest first."""
        start, end = diversion_stats.time_range(since, until)
        return await diversion_stats.diversion_series(
            read_db,
            acting_brand,
            start,
            end,
            bucket=bucket,
            distributor_id=distributor_id,
            area=area,
        )


ROUTES: list[Any] = [DiversionController]
