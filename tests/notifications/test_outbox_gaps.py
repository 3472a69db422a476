"""An event whose transaction commits after later events were already delivered is not lost.

PostgreSQL hands out ids at insert time, so a slow transaction can commit an event with a
*lower* id than events the worker has already fanned out. The worker does not keep a simple
high-water mark; it anti-joins recent ids against its fan-out table (docs/notifications.md).
SQLite serialises writers, so the situation cannot arise there.
"""

from __future__ import annotations

import pytest

from admin_api.notifications.worker import NotificationWorker
from kernel.outbox import emit
from kernel.settings import Settings
from tests.conftest import running_app
from tests.factories.notifications import create_subscription, emit_event
from tests.factories.tenancy import brand_admin
from tests.support.webhook_receiver import WebhookReceiver


# Services only: SQLite allows one writer at a time: no out-of-order commits.
@pytest.mark.parametrize("backend", ["services"])
async def test_a_late_committing_lower_id_is_still_delivered(settings: Settings) -> None:
    async with WebhookReceiver() as rx, running_app(settings) as (app, client):
        brand, headers = await brand_admin(app, client)
        sub = await create_subscription(client, headers, rx.url("main"), ["*"])
        rx.set_secret("main", sub["secret"])
        worker = NotificationWorker(app.state.runtime)
        try:
            async with app.state.session_factory() as slow:
                late = emit(
                    slow,
                    brand_id=brand.id,
                    event_type="recall.started",
                    subject_type="test",
                    subject_id="late",
                    payload={"which": "late"},
                )
                await slow.flush()  # id assigned, not yet committed
                await emit_event(app, brand.id, "recall.updated", {"which": "early"})
                while await worker.step():
                    pass
                assert [p.json()["data"] for p in rx.processed()] == [{"which": "early"}]
                await slow.commit()
            while await worker.step():
                pass
        finally:
            await worker.close()
        assert sorted(p.json()["data"]["which"] for p in rx.processed()) == ["early", "late"]
        assert rx.processed()[1].key == str(late.event_uid)
