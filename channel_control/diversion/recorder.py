"""Diversion detection on the scan path: signals, tallies and the rules that open alerts.

A consumer scan of a shipped unit, located by GPS or IP, is judged against the territory of
the distributor it was last shipped to (``channel_control.destination``):
``territory_contains`` → ``False`` is a *diversion signal*; ``None`` (not enough
information) is not. The scan path only calls ``resolve`` (cached), ``judge`` (pure) and
``observe`` (appends to in-memory buffers): no I/O of its own. A background task writes the
buffered signals and the per-(distributor, hour, area) tallies in one transaction every
``diversion_flush_interval_s`` and, in the same transaction, applies each brand's alert rule
to the groups that got new signals:

    a group = (brand, distributor, area) — area is the observed region, else country;
    an alert opens when the group's *unattached* signals within ``window_hours`` (and at or
    above ``min_confidence``) cover at least ``min_distinct_codes`` distinct codes.

Counting distinct codes, not scans, is what keeps a traveller (one consumer scanning one or
two bottles many times far from home) from raising an alert. While a group's alert is open or
acknowledged, its new signals join that alert; after it is closed a new alert needs a fresh
set of codes. Opening an alert emits ``diversion.alert.opened`` through the outbox in the same
transaction, and, after the commit, a live message to the brand's SSE subscribers.
"""

from __future__ import annotations

import asyncio
import functools
import json
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import structlog
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from channel_control.distributors.territory import Territory, territory_contains, territory_to_json
from channel_control.diversion.models import (
    DiversionFlush,
    DiversionSignal,
    DiversionTally,
)
from channel_control.diversion.rules import (
    DEFAULT_RULE,
    RuleValues,
    alert_event_payload,
    apply_rules,
    attach_to_open_alerts,
    rule_for,
)
from channel_control.diversion.signals import (
    _AREA,
    _BRAND,
    _DISTRIBUTOR,
    _TERRITORY,
    SIGNAL_COLUMNS,
    GroupKey,
    Signal,
    Tallies,
)
from channel_control.diversion.stream import AlertBroadcaster
from channel_control.logistics.destination import Destination, DestinationResolver
from kernel.db import copy_records

__all__ = [
    "DEFAULT_RULE",
    "SIGNAL_COLUMNS",
    "DiversionRecorder",
    "RuleValues",
    "alert_event_payload",
    "apply_rules",
    "area_of",
    "judge",
    "rule_for",
    "write_signals",
]

log = structlog.get_logger("channel_control.diversion")

INSERT_CHUNK = 500  # signals per statement: each chunk is ~1-3 ms of the event loop
FLUSH_LEDGER_RETENTION = timedelta(days=1)  # far longer than any retry of a failed flush
MAX_BUFFERED_SIGNALS = 50_000  # while the database is unreachable; beyond, the oldest go


@functools.lru_cache(maxsize=4096)
def _territory_json(territory: Territory) -> dict[str, Any]:
    """The evidence form of a territory, built once per territory (rows share it, read-only)."""
    return territory_to_json(territory)


@functools.lru_cache(maxsize=4096)
def _territory_text(territory: Territory) -> str:
    """``_territory_json`` serialised once, as COPY sends a JSON column."""
    return json.dumps(_territory_json(territory), separators=(",", ":"))


def area_of(country: str | None, region: str | None) -> str:
    """The grouping key of an observed place: region, else country, else ``GPS``."""
    return region or country or "GPS"


def judge(destination: Destination, location: Any) -> bool | None:
    """Diverted? ``True`` outside the territory, ``False`` inside, ``None`` unknown.

    ``location`` is a ``gateway.geo.ScanLocation`` (duck-typed: channel_control does not
    import the gateway).
    """
    if location.source == "none":
        return None
    if location.lat is None:  # IP-located: few distinct places, answers memoised
        inside = _place_inside(
            destination.territory, location.country, location.region, location.city
        )
    else:
        inside = territory_contains(
            destination.territory,
            country=location.country,
            region=location.region,
            city=location.city,
            lat=location.lat,
            lon=location.lon,
        )
    return None if inside is None else not inside


@functools.lru_cache(maxsize=65_536)
def _place_inside(
    territory: Territory, country: str | None, region: str | None, city: str | None
) -> bool | None:
    return territory_contains(
        territory, country=country, region=region, city=city, lat=None, lon=None
    )


class DiversionRecorder:
    """The scan path's channel check: resolve, judge, observe; a background batch writer."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        destinations: DestinationResolver,
        broadcaster: AlertBroadcaster,
        *,
        flush_interval_s: float,
    ) -> None:
        self.session_factory = session_factory
        self.destinations = destinations
        self.broadcaster = broadcaster
        self.flush_interval_s = flush_interval_s
        self._signals: deque[Signal] = deque(maxlen=MAX_BUFFERED_SIGNALS)
        self._tallies: Tallies = {}
        self._carried: _Batch | None = None  # the last flush, when it failed
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.signals_recorded = 0
        self.signals_dropped = 0
        self.alerts_opened = 0

    # ---- scan path (no I/O besides the resolver's cache misses) ----------------------------
    async def resolve(self, brand_id: uuid.UUID, kid: int, index: int) -> Destination | None:
        return await self.destinations.resolve(brand_id, kid, index)

    judge = staticmethod(judge)

    def observe(
        self,
        destination: Destination,
        location: Any,
        diverted: bool,
        *,
        brand_id: uuid.UUID,
        scan_uid: uuid.UUID,
        at: datetime,
        code_id: int,
        serial: str,
        gtin: str,
        product_id: uuid.UUID,
        product_name: str,
        batch_id: uuid.UUID | None,
        lot: str | None,
    ) -> None:
        """Count one located scan of a shipped unit; buffer a signal when it is diverted."""
        area = area_of(location.country, location.region)
        key = (brand_id, destination.distributor_id, int(at.timestamp()) // 3600, area)
        tally = self._tallies.get(key)
        if tally is None:
            tally = self._tallies[key] = [0, 0]
        tally[0] += 1
        if not diverted:
            return
        tally[1] += 1
        if len(self._signals) == MAX_BUFFERED_SIGNALS:  # the deque drops the oldest
            self.signals_dropped += 1
        self._signals.append(
            (
                brand_id,
                scan_uid,
                at,
                code_id,
                serial,
                gtin,
                product_id,
                product_name[:200],
                batch_id,
                lot,
                destination.distributor_id,
                destination.distributor_name[:200],
                destination.shipment_id,
                destination.document_number[:100],
                destination.territory,
                area,
                location.country,
                location.region,
                location.city,
                location.lat,
                location.lon,
                location.source,
                float(location.confidence),
            )
        )

    # ---- background writer -----------------------------------------------------------------
    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="diversion-writer")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval_s)
            await self.flush()

    async def flush(self) -> int:
        """Write what is buffered and apply the rules; return the number of alerts opened.

        One transaction, recorded in ``diversion_flushes`` under a fresh id. When it fails,
        its batch is carried to the next flush, which first looks the id up: found, the
        COMMIT had landed (only its reply was lost) and the batch is dropped; not found, it
        is written again with what was buffered since. Either way each signal is stored once
        and each tally counted once.
        """
        async with self._lock:
            carried = self._carried
            if not self._signals and not self._tallies and carried is None:
                return 0
            fresh, self._signals = list(self._signals), deque(maxlen=MAX_BUFFERED_SIGNALS)
            fresh_tallies, self._tallies = self._tallies, {}
            now = datetime.now(UTC)
            flush_id = uuid.uuid4()
            signals, tallies = fresh, fresh_tallies
            if carried is not None:  # not known to have landed until the ledger says so
                signals = carried.signals + fresh
                tallies = _merge_tallies(carried.tallies, fresh_tallies)
            try:
                async with self.session_factory() as session, session.begin():
                    if carried is not None:
                        landed = await session.get(DiversionFlush, carried.id)
                        if landed is not None:  # its COMMIT had gone through after all
                            signals, tallies = fresh, fresh_tallies
                    opened = await self._write(session, flush_id, signals, tallies, now)
            except (SQLAlchemyError, OSError) as exc:
                log.warning(
                    "channel_control.diversion.flush_failed",
                    error=str(exc),
                    signals=len(signals),
                    tallies=len(tallies),
                )
                if len(signals) > MAX_BUFFERED_SIGNALS:
                    self.signals_dropped += len(signals) - MAX_BUFFERED_SIGNALS
                    signals = signals[-MAX_BUFFERED_SIGNALS:]
                self._carried = _Batch(flush_id, signals, tallies)
                return 0
            self._carried = None
        self.signals_recorded += len(signals)
        self.alerts_opened += len(opened)
        for message in opened:
            await self.broadcaster.publish(message)
        return len(opened)

    @staticmethod
    async def _write(
        session: AsyncSession,
        flush_id: uuid.UUID,
        signals: list[Signal],
        tallies: Tallies,
        now: datetime,
    ) -> list[dict[str, Any]]:
        groups: dict[GroupKey, list[int]] = {}
        for i, signal in enumerate(signals):
            key = (signal[_BRAND], signal[_DISTRIBUTOR], signal[_AREA])
            groups.setdefault(key, []).append(i)
        conn = await session.connection()
        alert_ids = await attach_to_open_alerts(session, signals, groups, now)
        await write_signals(conn, signals, alert_ids)
        if tallies:
            await conn.execute(_tally_upsert(conn.dialect.name), _tally_rows(tallies))
        opened = await apply_rules(session, set(groups), now)
        flushes = cast(Table, DiversionFlush.__table__)
        await conn.execute(flushes.insert(), {"id": flush_id, "flushed_at": now})
        await conn.execute(
            flushes.delete().where(flushes.c.flushed_at < now - FLUSH_LEDGER_RETENTION)
        )
        return opened


@dataclass(frozen=True, slots=True)
class _Batch:
    """A flush that failed: what it tried to write, under the id it would have committed."""

    id: uuid.UUID
    signals: list[Signal]
    tallies: Tallies


def _merge_tallies(first: Tallies, second: Tallies) -> Tallies:
    merged = {key: list(counts) for key, counts in first.items()}
    for key, (located, diverted) in second.items():
        counts = merged.setdefault(key, [0, 0])
        counts[0] += located
        counts[1] += diverted
    return merged


async def write_signals(
    conn: AsyncConnection, signals: list[Signal], alert_ids: dict[int, uuid.UUID]
) -> None:
    """Insert buffered signals, ``alert_ids`` giving the alert (by position) of those that
    join an open one.

    On PostgreSQL through binary COPY: half the gateway CPU per signal of an INSERT, which is
    what keeps channel checks cheap on the scan path (docs/benchmarks.md). In chunks: between
    two, the event loop serves scans (one statement of thousands of rows would stall every
    request in flight).
    """
    table = cast(Table, DiversionSignal.__table__)
    postgres = conn.dialect.name == "postgresql"
    territory = _territory_text if postgres else _territory_json  # COPY sends JSON as text
    for start in range(0, len(signals), INSERT_CHUNK):
        records = [
            (*s[:_TERRITORY], territory(s[_TERRITORY]), *s[_TERRITORY + 1 :], alert_ids.get(i))
            for i, s in enumerate(signals[start : start + INSERT_CHUNK], start)
        ]
        if postgres:
            await copy_records(conn, table, SIGNAL_COLUMNS, records)
        else:
            rows = [dict(zip(SIGNAL_COLUMNS, record, strict=True)) for record in records]
            await conn.execute(table.insert(), rows)


def _tally_rows(tallies: Tallies) -> list[dict[str, Any]]:
    return [
        {
            "brand_id": brand_id,
            "distributor_id": distributor_id,
            "bucket_start": datetime.fromtimestamp(hour * 3600, UTC),
            "area": area,
            "located": located,
            "diverted": diverted,
        }
        for (brand_id, distributor_id, hour, area), (located, diverted) in tallies.items()
    ]


def _insert(dialect: str, table: Table) -> Any:
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


_STATEMENTS: dict[tuple[str, str], Any] = {}


def _tally_upsert(dialect: str) -> Any:
    key = ("tally", dialect)
    if key not in _STATEMENTS:
        table = cast(Table, DiversionTally.__table__)
        ins = _insert(dialect, table)
        _STATEMENTS[key] = ins.on_conflict_do_update(
            index_elements=["brand_id", "distributor_id", "bucket_start", "area"],
            set_={
                "located": table.c.located + ins.excluded.located,
                "diverted": table.c.diverted + ins.excluded.diverted,
            },
        )
    return _STATEMENTS[key]
