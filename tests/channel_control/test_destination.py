"""The scan path's "where should this code be": a 10-level chain of 100,000-unit shipments
resolves with a constant handful of indexed queries that never touch ``shipments``; answers
are cached and invalidated by writes. Plus the SSCC check digit, property-tested."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from litestar import Litestar
from sqlalchemy import event

from anticounterfeit.gs1.gtin import gtin_check_digit
from anticounterfeit.gs1.sscc import is_valid_sscc, normalize_sscc, sscc_check_digit
from channel_control.logistics.destination import DestinationResolver
from channel_control.logistics.positions import dense_groups
from channel_control.logistics.units import coalesce, pieces
from kernel.errors import InvalidInput
from kernel.settings import Settings
from tests.conftest import running_app
from tests.factories.shipping import ship, shipping_world
from tests.support.waiting import wait_until

CHAIN = 10
UNITS = 100_000
SHIPMENT_TABLES = re.compile(r"\b(shipments|shipment_lines)\b", re.IGNORECASE)


@contextmanager
def statements(app: Litestar) -> Iterator[list[tuple[str, Any]]]:
    """Every SQL statement (and its parameters) the app's engine runs inside the block."""
    seen: list[tuple[str, Any]] = []
    engine = app.state.runtime.engine.sync_engine

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_ten_level_chain_resolves_without_reading_shipments(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    w = await shipping_world(
        app, items=UNITS, distributors=CHAIN, regions=tuple((f"CN-{c}",) for c in "ABCDEFGHIJ")
    )
    chain = w.distributors
    await ship(client, w.admin, to=chain[0], ranges=[w.item_range(0, UNITS)])
    for src, dst in itertools.pairwise(chain):
        await ship(
            client, w.admin, kind="transfer", source=src, to=dst, ranges=[w.item_range(0, UNITS)]
        )
    resolver = DestinationResolver(app.state.runtime)  # a cold cache
    index = w.items.first_index + 77_777
    with statements(app) as first:  # the brand's first lookup also learns it ships at all
        assert await resolver.resolve(w.brand.id, w.items.kid, index - 1) is not None
    assert len(first) == 2
    with statements(app) as seen:
        found = await resolver.resolve(w.brand.id, w.items.kid, index)
    assert found is not None
    assert found.distributor_id == chain[-1].id
    assert found.distributor_name == chain[-1].name
    assert found.territory.regions == frozenset({"CN-J"})
    assert found.received is False
    queries = [s for s, _ in seen if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert len(queries) == 1, queries  # one UNION ALL statement over the projection
    assert not [s for s, _ in seen if SHIPMENT_TABLES.search(s)], seen

    # The same number of queries for a unit that went only one level (constant in depth).
    w2 = await shipping_world(app, items=10, distributors=1)
    await ship(client, w2.admin, to=w2.distributors[0], ranges=[w2.item_range(0, 10)])
    await resolver.resolve(w2.brand.id, w2.items.kid, w2.items.first_index)
    with statements(app) as shallow:
        await resolver.resolve(w2.brand.id, w2.items.kid, w2.items.first_index + 1)
    assert len(shallow) == len(seen)

    # Cached: no query at all the second time.
    with statements(app) as again:
        assert await resolver.resolve(w.brand.id, w.items.kid, index) == found
    assert again == []

    # Every lookup is an index search, on PostgreSQL (even if the planner may choose) and SQLite.
    async with app.state.runtime.engine.connect() as conn:
        dialect = conn.dialect.name
        for statement, parameters in [*first, *seen]:
            if dialect == "postgresql":
                await conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
                plan = "\n".join(
                    r[0]
                    for r in (await conn.exec_driver_sql("EXPLAIN " + statement, parameters)).all()
                )
                assert "Seq Scan" not in plan, plan
                assert "Index" in plan, plan
            else:
                plan = "\n".join(
                    str(r[-1])
                    for r in (
                        await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
                    ).all()
                )
                assert "SEARCH" in plan, plan
                assert not re.search(
                    r"\bSCAN (unit_positions|aggregations|containers|distributors)\b", plan
                ), plan
        await conn.rollback()


async def test_writes_invalidate_cached_destinations(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    w = await shipping_world(app, items=10)
    d1, d2, _ = w.distributors
    resolver: DestinationResolver = app.state.destinations
    index = w.items.first_index + 4
    assert await resolver.resolve(w.brand.id, w.items.kid, index) is None  # cached "nowhere"
    with statements(app) as none:  # a brand that shipped nothing costs no query at all
        assert await resolver.resolve(w.brand.id, w.items.kid, index + 1) is None
    assert none == []
    await ship(client, w.admin, to=d1, ranges=[w.item_range(0, 10)])
    first = await resolver.resolve(w.brand.id, w.items.kid, index)
    assert first is not None
    assert first.distributor_id == d1.id
    await ship(
        client,
        w.keys[0],
        kind="transfer",
        to=d2,
        codes=[w.item(4)],
        path="/v1/distributor/shipments",
    )
    moved = await resolver.resolve(w.brand.id, w.items.kid, index)
    assert moved is not None
    assert moved.distributor_id == d2.id
    neighbour = await resolver.resolve(w.brand.id, w.items.kid, index + 1)
    assert neighbour is not None
    assert neighbour.distributor_id == d1.id
    # Another brand's id never resolves these units.
    other = await shipping_world(app, items=1, distributors=1)
    assert await resolver.resolve(other.brand.id, w.items.kid, index) is None


@given(st.integers(min_value=0, max_value=10**17 - 1))
def test_sscc_check_digit_matches_gs1_and_catches_single_digit_errors(body_int: int) -> None:
    body = f"{body_int:017d}"
    digit = sscc_check_digit(body)
    # GS1 mod 10 over 17 digits: weights 3,1,3,... from the right.
    total = sum(int(c) * (3 if i % 2 == 0 else 1) for i, c in enumerate(reversed(body)))
    assert digit == (10 - total % 10) % 10 == gtin_check_digit(body)
    sscc = body + str(digit)
    assert is_valid_sscc(sscc)
    assert normalize_sscc(f"(00){sscc}") == sscc
    assert normalize_sscc(f"https://id.gs1.org/00/{sscc}") == sscc
    # Every single-digit substitution is caught (mod 10 with weights 1 and 3).
    for pos in range(18):
        for other in "0123456789":
            if other != sscc[pos]:
                changed = sscc[:pos] + other + sscc[pos + 1 :]
                assert not is_valid_sscc(changed)


@given(st.text(max_size=25))
def test_normalize_sscc_never_accepts_garbage_silently(value: str) -> None:
    error: InvalidInput | None = None
    try:
        digits = normalize_sscc(value)
    except InvalidInput as exc:
        error = exc
    if error is None:
        assert is_valid_sscc(digits)
    else:
        assert (error.field, error.code) == ("sscc", "invalid_sscc")


intervals = st.lists(st.tuples(st.integers(0, 300), st.integers(1, 40)), max_size=25)


@given(intervals, st.integers(0, 350), st.integers(1, 80))
def test_pieces_cover_the_range_and_agree_with_a_point_lookup(
    raw: list[tuple[int, int]], lo: int, width: int
) -> None:
    stored = [(s, e, (s, e)) for s, e in coalesce((s, s + n) for s, n in raw)]
    hi = lo + width
    parts = pieces(stored, lo, hi)
    assert parts[0].start == lo
    assert parts[-1].end == hi
    assert all(a.end == b.start for a, b in itertools.pairwise(parts))
    for part in parts:
        for point in range(part.start, part.end):
            owner = next((v for s, e, v in stored if s <= point < e), None)
            assert part.value == owner


@given(intervals)
def test_coalesce_and_dense_groups_keep_every_unit_once(raw: list[tuple[int, int]]) -> None:
    ranges = [(s * 1000, s * 1000 + n) for s, n in raw]
    runs = coalesce(ranges)
    units = {u for lo, hi in ranges for u in range(lo, hi)}
    assert {u for lo, hi in runs for u in range(lo, hi)} == units
    assert all(a[1] < b[0] for a, b in itertools.pairwise(runs))  # disjoint, not touching
    groups = dense_groups(runs)
    assert [r for g in groups for r in g] == runs


# Services only: two workers share invalidations only through a real Redis.
@pytest.mark.parametrize("backend", ["services"])
async def test_another_worker_drops_its_cached_answer_after_a_shipment(
    app: Litestar, client: httpx.AsyncClient, settings: Settings, backend: str
) -> None:
    """Two app instances on one database and Redis: a shipment through the first makes the
    second's cached answer stale at once (pub/sub with a real Redis; the embedded store is
    one process, where both share nothing but the database, so only the TTL would help)."""
    w = await shipping_world(app, items=5)
    d1, d2, _ = w.distributors
    await ship(client, w.admin, to=d1, ranges=[w.item_range(0, 5)])
    async with running_app(settings) as (other, _):
        resolver: DestinationResolver = other.state.destinations
        before = await resolver.resolve(w.brand.id, w.items.kid, w.items.first_index)
        assert before is not None
        assert before.distributor_id == d1.id
        await ship(client, w.admin, kind="transfer", source=d1, to=d2, ranges=[w.item_range(0, 5)])
        after = before

        async def moved() -> bool:
            nonlocal after
            found = await resolver.resolve(w.brand.id, w.items.kid, w.items.first_index)
            if found is None:
                return False
            after = found
            return found.distributor_id == d2.id

        await wait_until(moved, what="the resolver to see the transfer")
        assert after is not None
        assert after.distributor_id == d2.id
