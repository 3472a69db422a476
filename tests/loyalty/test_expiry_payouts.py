"""Points expiry (oldest first) and the payout worker against a local payment platform."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import httpx
from hypothesis import given
from hypothesis import strategies as st
from litestar import Litestar
from sqlalchemy import select, update

from kernel.db import utcnow
from kernel.settings import Settings
from kernel.uow import session_scope
from loyalty.ledger import open_lots
from loyalty.models import LedgerEntry, Payout
from loyalty.payouts import PayoutWorker
from loyalty.rewards import queue_payout
from tests.conftest import running_app
from tests.factories.loyalty import account_of, consumer, ledger_sum, setup_loyalty
from tests.loyalty.test_rewards import grant, make_item, redeem
from tests.support.payment_server import FakePayments


async def _age(app: Litestar, entry_ids: list[int], days: int) -> None:
    """Pretend these credits were earned long ago (their expiry date is in the past)."""
    async with session_scope(app.state.session_factory) as session:
        await session.execute(
            update(LedgerEntry)
            .where(LedgerEntry.id.in_(entry_ids))
            .values(expires_at=utcnow() - timedelta(days=days))
        )


async def test_points_expire_oldest_first_exactly_once(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    setup = await setup_loyalty(app, client, points=None)
    who = await consumer(app)
    credits = [await grant(client, setup, who, 10) for _ in range(3)]
    item = await make_item(client, setup, cost_points=15, stock=5)
    assert (await redeem(client, who, item["id"])).status_code == 201  # uses lot 1 and half of 2
    await _age(app, [credits[0]["id"], credits[1]["id"]], days=1)
    expired = await client.post("/v1/admin/loyalty/expire", headers=setup.admin)
    assert expired.json() == {"accounts": 1, "points_expired": 5}
    again = await client.post("/v1/admin/loyalty/expire", headers=setup.admin)
    assert again.json() == {"accounts": 0, "points_expired": 0}
    account = await account_of(app, who.id, setup.brand.id)
    assert account is not None
    assert account.balance == 10 == await ledger_sum(app, who.id, setup.brand.id)
    ledger = (
        await client.get(
            "/v1/admin/loyalty/ledger",
            params={"consumer_id": str(who.id), "reason": "expiry"},
            headers=setup.admin,
        )
    ).json()
    assert [(e["delta"], e["ref_type"], e["ref_id"]) for e in ledger["items"]] == [
        (-5, "ledger", str(credits[1]["id"]))
    ]


@given(
    st.lists(
        st.tuples(st.integers(min_value=-50, max_value=50), st.integers(0, 5) | st.none()),
        max_size=40,
    )
)
def test_open_lots_consume_soonest_expiring_first(moves: list[tuple[int, int | None]]) -> None:
    base = utcnow()
    entries: list[tuple[int, int, object]] = []
    balance = 0
    for entry_id, (delta, expiry_day) in enumerate(moves, start=1):
        if delta == 0 or balance + delta < 0:
            continue  # the ledger never lets a balance go negative
        balance += delta
        expires = (
            base + timedelta(days=expiry_day) if expiry_day is not None and delta > 0 else None
        )
        entries.append((entry_id, delta, expires))
    lots = open_lots(entries)  # type: ignore[arg-type]  # datetimes or None
    assert sum(lot.remaining for lot in lots) == balance
    credits = {e[0]: e for e in entries if e[1] > 0}
    for lot in lots:
        assert 0 < lot.remaining <= credits[lot.entry_id][1]
    # Everything expiring before an open lot was consumed first: at most one lot is partial,
    # and it is the earliest-expiring open one.
    partial = [lot for lot in lots if lot.remaining < credits[lot.entry_id][1]]
    assert len(partial) <= 1
    if partial:
        assert partial[0] == lots[0]


async def _payout_app_settings(settings: Settings, payments: FakePayments, rate: float) -> Settings:
    return settings.with_overrides(
        loyalty={"payout_api_base_url": payments.base_url, "payout_rate_per_s": rate}
    )


async def test_red_envelope_redemptions_are_paid_once_with_retries(settings: Settings) -> None:
    with FakePayments(fail_first=1) as payments:
        configured = await _payout_app_settings(settings, payments, 50)
        async with running_app(configured) as (app, client):
            setup = await setup_loyalty(app, client, points=None)
            who = await consumer(app)
            anonymous = (await client.post("/v1/loyalty/web/session")).json()["consumer_id"]
            client.cookies.clear()
            await grant(client, setup, who, 20)
            item = await make_item(
                client, setup, kind="red_envelope", amount_cents=88, cost_points=10
            )
            first = await redeem(client, who, item["id"], "envelope-0001")
            replay = await redeem(client, who, item["id"], "envelope-0001")
            second = await redeem(client, who, item["id"], "envelope-0002")
            order_nos = {first.json()["payout_order_no"], second.json()["payout_order_no"]}
            assert replay.json()["payout_order_no"] == first.json()["payout_order_no"]
            assert None not in order_nos
            assert len(order_nos) == 2
            async with session_scope(app.state.session_factory) as session:
                await queue_payout(
                    session,
                    brand_id=setup.brand.id,
                    consumer_id=uuid.UUID(anonymous),
                    amount_cents=100,
                    source_type="draw",
                    source_id=uuid.uuid4(),
                )

            worker = PayoutWorker(app.state.runtime)
            try:
                run1 = await worker.run_once()
                assert (run1.sent, run1.retried, run1.failed) == (1, 1, 1)
                async with session_scope(app.state.session_factory) as session:
                    await session.execute(  # the retry is due now rather than in 2 s
                        update(Payout)
                        .where(Payout.status == "queued")
                        .values(next_attempt_at=utcnow())
                    )
                run2 = await worker.run_once()
                assert (run2.sent, run2.retried, run2.failed) == (1, 0, 0)
                run3 = await worker.run_once()
                assert (run3.sent, run3.retried, run3.failed) == (0, 0, 0)
            finally:
                await worker.aclose()
            assert set(payments.paid) == order_nos
            assert {p["transfer_amount"] for p in payments.paid.values()} == {88}
            listed = (await client.get("/v1/admin/loyalty/payouts", headers=setup.admin)).json()[
                "items"
            ]
            assert sorted(p["status"] for p in listed) == ["failed", "sent", "sent"]
            retried = next(p for p in listed if p["attempts"] == 2)
            assert retried["status"] == "sent"


async def test_payouts_respect_the_platform_rate(settings: Settings) -> None:
    with FakePayments(max_per_s=20) as payments:
        # The worker runs a little under the platform's limit (arrival jitter).
        configured = await _payout_app_settings(settings, payments, 18)
        async with running_app(configured) as (app, client):
            setup = await setup_loyalty(app, client, points=None)
            who = await consumer(app)
            async with session_scope(app.state.session_factory) as session:
                for _ in range(30):
                    await queue_payout(
                        session,
                        brand_id=setup.brand.id,
                        consumer_id=who.id,
                        amount_cents=100,
                        source_type="draw",
                        source_id=uuid.uuid4(),
                    )
            worker = PayoutWorker(app.state.runtime)
            started = time.monotonic()
            try:
                run = await worker.run_once()
            finally:
                await worker.aclose()
            elapsed = time.monotonic() - started
            assert run.sent == 30
            assert payments.state.throttled == 0
            assert payments.max_in_any_second() <= 20
            assert elapsed >= 29 / 18 - 0.05  # 30 sends at 18/s
            async with app.state.session_factory() as session:
                statuses = set((await session.execute(select(Payout.status))).scalars())
            assert statuses == {"sent"}
