"""Diversion detection on the scan path: signals, tallies and the rules that open alerts.

A consumer scan of a shipped unit, located by GPS or IP, is judged against the territory of
the distributor it was last shipped to (``channel_control.destination``):
``territory_contains`` → ``False`` is a *diversion signal*; ``None`` (not enough
information) is not. The scan path only calls ``resolve`` (cached), ``judge`` (pure) and
``observe`` (appends to an in-memory buffer): no I/O of its own. A background task writes the
buffered signals and the per-(distributor, hour, area) tallies in one transaction every
``diversion_flush_interval_s`` and, in the same transaction, applies each brand's alert rule
to the groups that got new signals.

The buffer is not the record: the scan log wrote a follow-up for each of these scans in the
scan's own transaction (``gateway.followups``). A flush writes only the scans whose follow-up
it takes (deletes), so each scan counts once; at start-up, and for follow-ups older than
``stale_after``, the recorder rebuilds what a killed process or a dropped buffer left
(``channel_control.diversion.recovery``). A crash loses no signal and no tally.

Alert rules:

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
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import structlog
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from anticounterfeit.codes.format import Keyring
from channel_control.distributors.territory import Territory, territory_contains, territory_to_json
from channel_control.diversion.models import DiversionSignal, DiversionTally
from channel_control.diversion.recovery import area_of, rebuild_observations
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
    Observation,
    Signal,
    Tallies,
    tallies_of,
)
from channel_control.diversion.stream import AlertBroadcaster
from channel_control.logistics.destination import Destination, DestinationResolver
from gateway.followups import claim_followups, claim_stale_followups
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
MAX_BUFFERED = 50_000  # scans kept while the database is unreachable; beyond, the oldest go
STALE_AFTER_S = 60.0  # at least: a live process's buffer is written well within this
RECOVER_CHUNK = 5_000  # rebuilt scans per transaction


@functools.lru_cache(maxsize=4096)
def _territory_json(territory: Territory) -> dict[str, Any]:
    """The evidence form of a territory, built once per territory (rows share it, read-only)."""
    return territory_to_json(territory)


@functools.lru_cache(maxsize=4096)
def _territory_text(territory: Territory) -> str:
    """``_territory_json`` serialised once, as COPY sends a JSON column."""
    return json.dumps(_territory_json(territory), separators=(",", ":"))


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
        keyring: Keyring | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.destinations = destinations
        self.broadcaster = broadcaster
        self.flush_interval_s = flush_interval_s
        self.keyring = keyring  # to print the serial of a rebuilt signal
        # A follow-up no process has written this long after its scan is rebuilt from the log.
        self.stale_after = timedelta(seconds=max(STALE_AFTER_S, 3 * flush_interval_s))
        self._observed: deque[Observation] = deque(maxlen=MAX_BUFFERED)
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.signals_recorded = 0
        self.dropped = 0  # left memory during an outage; rebuilt from the scan log later
        self.rebuilt = 0
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
        """Count one located scan of a shipped unit; buffer a signal when it is diverted.

        The scan log already holds its follow-up: what this buffer loses (a crash, the oldest
        dropped during a long outage) is rebuilt from there."""
        area = area_of(location.country, location.region)
        key = (brand_id, destination.distributor_id, int(at.timestamp()) // 3600, area)
        if len(self._observed) == MAX_BUFFERED:  # the deque drops the oldest
            self.dropped += 1
        if not diverted:
            self._observed.append((scan_uid, key, None))
            return
        signal = (
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
        self._observed.append((scan_uid, key, signal))

    # ---- background writer -----------------------------------------------------------------
    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="diversion-writer")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.flush()

    async def _run(self) -> None:
        await self.recover()
        while True:
            await asyncio.sleep(self.flush_interval_s)
            await self.flush()

    async def recover(self) -> int:
        """Rebuild the consequences of every scan logged before now that no process wrote
        (run at start-up: a killed process left them); return how many were rebuilt."""
        before, total = datetime.now(UTC), 0
        while True:
            rebuilt = await self._flush(before)
            total += max(rebuilt, 0)
            if rebuilt < RECOVER_CHUNK:
                return total

    async def flush(self) -> int:
        """Write what is buffered, rebuild what went stale, apply the rules; return the number
        of alerts opened."""
        opened_before = self.alerts_opened
        await self._flush(datetime.now(UTC) - self.stale_after)
        return self.alerts_opened - opened_before

    async def _flush(self, stale_before: datetime) -> int:
        """One transaction: take the buffered scans' follow-ups and the stale ones, write the
        signals and tallies of the taken ones, apply the rules. Return the stale ones rebuilt
        (-1 when the transaction failed).

        Taking a follow-up (deleting it) is what makes a scan count once: a failed flush puts
        its batch back, and when its COMMIT had landed after all (only the reply was lost) the
        retry takes none of those follow-ups again and writes nothing twice."""
        async with self._lock:
            batch, self._observed = list(self._observed), deque(maxlen=MAX_BUFFERED)
            now = datetime.now(UTC)
            try:
                async with self.session_factory() as session, session.begin():
                    conn = await session.connection()
                    taken = await claim_followups(conn, [o[0] for o in batch])
                    observations = [o for o in batch if o[0] in taken]
                    stale = await claim_stale_followups(conn, stale_before, RECOVER_CHUNK)
                    observations += await rebuild_observations(session, stale, self.keyring)
                    opened = await self._write(session, observations, now)
            except (SQLAlchemyError, OSError) as exc:
                log.warning(
                    "channel_control.diversion.flush_failed", error=str(exc), scans=len(batch)
                )
                self._put_back(batch)
                return -1
        self.signals_recorded += sum(o[2] is not None for o in observations)
        self.rebuilt += len(stale)
        self.alerts_opened += len(opened)
        if stale:
            log.info("channel_control.diversion.rebuilt", scans=len(stale))
        for message in opened:
            await self.broadcaster.publish(message)
        return len(stale)

    def _put_back(self, batch: list[Observation]) -> None:
        """Keep a failed batch for the next flush, ahead of what came since; past the bound
        the oldest leave memory (their follow-ups stay in the log, to be rebuilt)."""
        kept: deque[Observation] = deque(batch, maxlen=MAX_BUFFERED)
        kept.extend(self._observed)
        self.dropped += len(batch) + len(self._observed) - len(kept)
        self._observed = kept

    @staticmethod
    async def _write(
        session: AsyncSession, observations: list[Observation], now: datetime
    ) -> list[dict[str, Any]]:
        signals = [o[2] for o in observations if o[2] is not None]
        groups: dict[GroupKey, list[int]] = {}
        for i, signal in enumerate(signals):
            key = (signal[_BRAND], signal[_DISTRIBUTOR], signal[_AREA])
            groups.setdefault(key, []).append(i)
        conn = await session.connection()
        alert_ids = await attach_to_open_alerts(session, signals, groups, now)
        await write_signals(conn, signals, alert_ids)
        if observations:
            tallies = tallies_of(observations)
            await conn.execute(_tally_upsert(conn.dialect.name), _tally_rows(tallies))
        return await apply_rules(session, set(groups), now)


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
