"""The cursor does not skip an event whose transaction commits after later ones were
published (PostgreSQL hands out ids at insert time); an id that never turns up (a rolled
back insert) is given up after the gap window."""

from __future__ import annotations

from datetime import timedelta

import pytest

from admin_api.streaming.models import StreamCursor
from admin_api.streaming.services import GAP_WINDOW, advance
from admin_api.streaming.worker import StreamWorker
from kernel.db import utcnow
from kernel.outbox import emit
from kernel.settings import Settings
from tests.conftest import running_app
from tests.factories.notifications import emit_event
from tests.streaming.support import stored_messages


# Services only: SQLite allows one writer at a time, so no out-of-order commits.
@pytest.mark.parametrize("backend", ["services"])
async def test_a_late_committing_lower_id_is_still_published(stream_settings: Settings) -> None:
    async with running_app(stream_settings) as (app, _):
        await emit_event(app, None, "recall.started", {"which": "first"})
        worker = StreamWorker(app.state.runtime)
        try:
            await worker.start()
            async with app.state.session_factory() as slow:
                emit(
                    slow,
                    brand_id=None,
                    event_type="recall.updated",
                    subject_type="recall",
                    subject_id="late",
                    payload={"which": "late"},
                )
                await slow.flush()  # id assigned, not yet committed
                await emit_event(app, None, "recall.closed", {"which": "early"})
                while await worker.step():
                    pass
                await slow.commit()
            while await worker.step():
                pass
        finally:
            await worker.close()
    order = [m.body["data"]["which"] for m in await stored_messages(stream_settings)]
    assert order == ["first", "early", "late"]  # late, but there (docs/streaming.md)


def test_gaps_are_remembered_found_and_given_up() -> None:
    now = utcnow()
    cursor = StreamCursor(consumer="c", source="s", position=0, gaps=[], published=0)
    assert advance(cursor, [5, 6, 8], now)  # a fresh cursor waits for nothing below 5
    assert (cursor.position, [g[0] for g in cursor.gaps]) == (8, [7])
    assert advance(cursor, [7, 9], now)  # 7 committed late: found, no longer awaited
    assert (cursor.position, cursor.gaps) == (9, [])
    advance(cursor, [12], now)
    assert [g[0] for g in cursor.gaps] == [10, 11]
    assert not advance(cursor, [], now + GAP_WINDOW - timedelta(seconds=1))
    assert advance(cursor, [], now + GAP_WINDOW + timedelta(seconds=1))  # rolled back: given up
    assert (cursor.position, cursor.gaps) == (12, [])
