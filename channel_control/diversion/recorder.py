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
from sqlalchemy import ARRAY, BigInteger, ColumnElement, Table, any_, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from channel_control.distributors.territory import Territory, territory_contains, territory_to_json
from channel_control.diversion.models import (
    DiversionAlert,
    DiversionAlertEvent,
    DiversionFlush,
    DiversionRule,
    DiversionSignal,
    DiversionTally,
)
from channel_control.diversion.stream import AlertBroadcaster
from channel_control.logistics.destination import Destination, DestinationResolver
from kernel.db import copy_records
from kernel.outbox import emit

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


# A buffered signal: one tuple per diverted scan in ``SIGNAL_COLUMNS`` order minus ``alert_id``
# (the flush adds it). Tuples, not dicts: thousands are held between flushes, and on
# PostgreSQL they go to COPY as they are (``territory`` becomes its JSON text there).
SIGNAL_COLUMNS = (
    "brand_id",
    "scan_uid",
    "observed_at",
    "code_id",
    "serial",
    "gtin",
    "product_id",
    "product_name",
    "batch_id",
    "lot",
    "distributor_id",
    "distributor_name",
    "shipment_id",
    "document_number",
    "expected_territory",
    "area",
    "country",
    "region",
    "city",
    "lat",
    "lon",
    "location_source",
    "location_confidence",
    "alert_id",
)
_BRAND, _AT, _CODE, _DISTRIBUTOR, _TERRITORY, _AREA, _CONFIDENCE = (
    SIGNAL_COLUMNS.index(name)
    for name in (
        "brand_id",
        "observed_at",
        "code_id",
        "distributor_id",
        "expected_territory",
        "area",
        "location_confidence",
    )
)
Signal = tuple[Any, ...]
Tallies = dict[tuple[uuid.UUID, uuid.UUID, int, str], list[int]]  # (brand, distributor, hour,
# area) -> [located scans, diverted scans]
GroupKey = tuple[uuid.UUID, uuid.UUID, str]  # (brand, distributor, area): what alerts group by


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
