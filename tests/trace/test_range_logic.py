"""Property tests of the range arithmetic under recalls: the segments the scan path reads
(``overlay_recalls`` over ``compile_segments``) agree with a per-code model, and coalesced
code_id ranges cover exactly the union of their inputs."""

from __future__ import annotations

import itertools
import uuid
from bisect import bisect_right
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from anticounterfeit.codes.metadata import Segment, compile_segments, overlay_recalls
from anticounterfeit.trace.genealogy import CodeRange
from anticounterfeit.trace.recall_reports import coalesce_code_ids

BATCHES = [uuid.UUID(int=i + 1) for i in range(3)]
RECALLS = [uuid.UUID(int=100 + i) for i in range(3)]


def _at(segments: list[Segment], seq: int) -> Segment:
    return segments[bisect_right([s.start for s in segments], seq) - 1]


events = st.lists(
    st.tuples(
        st.integers(0, 40),
        st.integers(0, 40),
        st.sampled_from(["activate", "void", "bind_batch"]),
        st.sampled_from([*BATCHES, None]),
    ),
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(
    count=st.integers(1, 40),
    default_batch=st.sampled_from([*BATCHES, None]),
    raw_events=events,
    batch_recalls=st.dictionaries(st.sampled_from(BATCHES), st.sampled_from(RECALLS), max_size=3),
    ranges=st.lists(
        st.tuples(st.integers(0, 40), st.integers(0, 40), st.sampled_from(RECALLS)), max_size=3
    ),
    order=st.permutations(RECALLS),
)
def test_overlay_matches_a_per_code_model(
    count: int,
    default_batch: uuid.UUID | None,
    raw_events: list[tuple[int, int, str, uuid.UUID | None]],
    batch_recalls: dict[uuid.UUID, uuid.UUID],
    ranges: list[tuple[int, int, uuid.UUID]],
    order: list[uuid.UUID],
) -> None:
    compiled = compile_segments(
        count, default_batch, [(lo, hi, action, batch, "r") for lo, hi, action, batch in raw_events]
    )
    valid_ranges = [(lo, hi, r) for lo, hi, r in ranges if lo < hi]
    rank = {r: i for i, r in enumerate(order)}
    overlaid = overlay_recalls(compiled, count, batch_recalls, valid_ranges, rank)
    assert overlaid[0].start == 0
    assert [s.start for s in overlaid] == sorted({s.start for s in overlaid})
    for seq in range(count):
        base = _at(compiled, seq)
        got = _at(overlaid, seq)
        assert (got.status, got.batch_id, got.void_reason) == (
            base.status,
            base.batch_id,
            base.void_reason,
        )
        candidates = [r for lo, hi, r in valid_ranges if lo <= seq < hi]
        if base.batch_id in batch_recalls:
            candidates.append(batch_recalls[base.batch_id])
        expected = min(candidates, key=rank.__getitem__) if candidates else None
        assert got.recall_id == expected
    # No two neighbours are equal (segments stay minimal).
    for left, right in itertools.pairwise(overlaid):
        assert (left.status, left.batch_id, left.void_reason, left.recall_id) != (
            right.status,
            right.batch_id,
            right.void_reason,
            right.recall_id,
        )


@given(
    st.lists(
        st.tuples(st.integers(1, 3), st.integers(0, 60), st.integers(1, 20)), min_size=0, max_size=8
    )
)
def test_coalesced_ranges_cover_exactly_the_union(specs: list[tuple[int, int, int]]) -> None:
    ranges = [
        CodeRange(
            roll_id=uuid.uuid4(),
            kid=kid,
            first_index=0,
            product_id=uuid.uuid4(),
            batch_id=None,
            seq_start=start,
            seq_end=start + size,
            active=0,
            void=0,
            issued_at=datetime.now(UTC),
        )
        for kid, start, size in specs
    ]
    merged = coalesce_code_ids(ranges)
    covered = {c for lo, hi in merged for c in range(lo, hi)}
    expected = {c for r in ranges for c in range(r.lo_code_id, r.hi_code_id)}
    assert covered == expected
    assert sum(hi - lo for lo, hi in merged) == len(expected)  # disjoint
    assert all(a[1] < b[0] for a, b in itertools.pairwise(merged))  # sorted, apart
