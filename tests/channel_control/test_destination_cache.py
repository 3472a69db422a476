"""The interval cache in front of the destination resolver gives the resolver's answers."""

from __future__ import annotations

import httpx
from hypothesis import given
from hypothesis import strategies as st
from litestar import Litestar

from anticounterfeit.codes.identity import code_id_of
from channel_control.logistics.destination import DestinationResolver
from channel_control.logistics.destination_cache import (
    KID_SPAN,
    IntervalDestinationResolver,
    holding_interval,
)
from tests.factories.shipping import ShippingWorld, pack, ship, shipping_world


def _rows(cuts: list[int]) -> list[tuple[int, int]]:
    """Disjoint [start, end) rows from sorted cut points (every other gap left empty)."""
    points = sorted(set(cuts))
    return [(a, b) for a, b in zip(points[::2], points[1::2], strict=False) if a < b]


def _holder(rows: list[tuple[int, int]], code: int) -> tuple[int, int] | None:
    return next((r for r in rows if r[0] <= code < r[1]), None)


def _bounds(rows: list[tuple[int, int]], code: int) -> tuple[tuple[int, int] | None, int | None]:
    prev = max((r for r in rows if r[0] <= code), default=None)
    nxt = min((r[0] for r in rows if r[0] > code), default=None)
    return prev, nxt


@given(
    st.lists(st.integers(0, 200), max_size=12),
    st.lists(st.integers(0, 200), max_size=12),
    st.integers(0, 200),
)
def test_every_code_of_the_interval_is_held_by_the_same_rows(
    own_cuts: list[int], case_cuts: list[int], code: int
) -> None:
    own, cases = _rows(own_cuts), _rows(case_cuts)
    lo, hi = holding_interval(code, *_bounds(own, code), *_bounds(cases, code))
    assert lo <= code < hi
    for other in range(max(lo, 0), min(hi, 202)):
        assert _holder(own, other) == _holder(own, code)
        assert _holder(cases, other) == _holder(cases, code)


def test_an_interval_never_leaves_the_key() -> None:
    code = 3 * KID_SPAN + 5
    assert holding_interval(code, None, None, None, None) == (3 * KID_SPAN, 4 * KID_SPAN)


async def _compare(app: Litestar, world: ShippingWorld, count: int) -> None:
    cached: IntervalDestinationResolver = app.state.destinations
    truth = DestinationResolver(app.state.runtime)  # per code, nothing cached yet
    kid, first = world.items.kid, world.items.first_index
    for seq in range(count):
        got = await cached.resolve(world.brand.id, kid, first + seq)
        want = await truth.resolve(world.brand.id, kid, first + seq)
        assert got == want, (seq, code_id_of(kid, first + seq))


async def test_the_interval_cache_answers_as_the_resolver(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await shipping_world(app, items=60, cases=4, distributors=3)
    d0, d1, d2 = world.distributors
    await ship(client, world.admin, to=d0, ranges=[world.item_range(0, 20)])
    await ship(client, world.admin, to=d1, ranges=[world.item_range(30, 40)])
    await pack(client, world.admin, world.case(0), ranges=[world.item_range(22, 27)])
    await ship(client, world.admin, to=d2, containers=[world.case(0)])
    await pack(client, world.admin, world.case(1), ranges=[world.item_range(45, 50)])
    cached: IntervalDestinationResolver = app.state.destinations
    await _compare(app, world, 60)
    assert cached.interval_hits > 30  # 60 codes, about eight intervals
    # A transfer moves part of a range: the cache follows (the write bumps the generation).
    await ship(
        client,
        world.admin,
        kind="transfer",
        source=d0,
        to=d1,
        ranges=[world.item_range(2, 6)],
    )
    await _compare(app, world, 60)
