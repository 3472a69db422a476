"""The real ``scanguard stream run`` process: killed with SIGKILL mid-batch and restarted, the
stream holds every event exactly once; SIGTERM finishes the batch in flight and exits 0.

Small batches make the kill land while a batch is being published (its cursor not yet
committed), so the restarted publisher really re-sends messages the stream already holds;
JetStream's duplicate window drops them by ``Nats-Msg-Id``.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.models import Scan
from kernel.outbox import emit
from kernel.settings import Settings
from kernel.uow import session_scope
from tests.conftest import running_app
from tests.e2e.test_crash_durability import _server_env
from tests.factories.loyalty import scan, setup_loyalty
from tests.notifications.test_worker_process import _stopped
from tests.streaming.support import stored_count, stored_messages
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

CODES = 60  # scanned twice each: 120 scans
EVENTS = 900  # outbox events: recalls and alerts, a few ordering keys each
BATCH = 40


def _env(settings: Settings) -> dict[str, str]:
    env = _server_env(settings)
    stream = settings.stream
    env.update(
        SCANGUARD_NATS_URL=stream.url,
        SCANGUARD_NATS_STREAM=stream.stream_name,
        SCANGUARD_NATS_SUBJECT_PREFIX=stream.subject_prefix,
        SCANGUARD_NATS_BATCH_SIZE=str(BATCH),
        SCANGUARD_NATS_POLL_INTERVAL_S="0.05",
        SCANGUARD_LOG_LEVEL="INFO",
    )
    return env


def _start(settings: Settings, output: Path) -> subprocess.Popen[bytes]:
    with output.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "admin_api.cli", "stream", "run"],
            env=_env(settings),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


async def _prepare(settings: Settings) -> tuple[set[str], int]:
    """Scans through the API and outbox events committed; no publisher runs yet."""
    async with running_app(settings) as (app, client):
        lb = await setup_loyalty(app, client, count=CODES, points=None)
        for seq in range(CODES):
            for device in ("device-kill-a", "device-kill-b"):
                await scan(client, lb.url(seq), device)
        uids: set[str] = set()
        async with session_scope(app.state.session_factory) as session:
            for i in range(EVENTS):
                kind = "recall.updated" if i % 2 else "diversion.alert.updated"
                subject = "recall" if i % 2 else "diversion_alert"
                event = emit(
                    session,
                    brand_id=lb.brand.id,
                    event_type=kind,
                    subject_type=subject,
                    subject_id=f"s-{i % 7}",
                    payload={"n": i},
                )
                uids.add(f"event:{event.event_uid}")
        async with app.state.session_factory() as session:
            scans = int(await session.scalar(select(func.count()).select_from(Scan)) or 0)
    return uids, scans


async def test_sigkill_mid_batch_then_restart_stores_every_event_once(
    stream_settings: Settings, tmp_path: Path
) -> None:
    event_ids, scans = await _prepare(stream_settings)
    total = len(event_ids) + scans
    assert scans == 2 * CODES
    log = tmp_path / "stream.log"
    publisher = _start(stream_settings, log)
    try:

        async def under_way() -> bool:
            return await stored_count(stream_settings) >= 5 * BATCH + BATCH // 2

        await wait_until(under_way, timeout_s=30, interval_s=0.005, what="publishing under way")
        publisher.send_signal(signal.SIGKILL)  # no shutdown: the batch in flight is abandoned
        assert await _stopped(publisher) == -signal.SIGKILL
        at_kill = await stored_count(stream_settings)
        assert at_kill < total  # the kill really was mid-way

        publisher = _start(stream_settings, log)

        async def all_stored() -> bool:
            return await stored_count(stream_settings) >= total

        await wait_until(all_stored, timeout_s=60, what="every event on the stream")
        publisher.send_signal(signal.SIGTERM)
        assert await _stopped(publisher) == 0
    finally:
        if publisher.poll() is None:
            publisher.kill()
            await _stopped(publisher)
    output = log.read_text()
    assert "stream stopped" in output
    messages = await stored_messages(stream_settings)
    ids = [m.msg_id for m in messages]
    assert len(ids) == total == len(set(ids))  # nothing lost, nothing twice
    assert {i for i in ids if i.startswith("event:")} == event_ids
    # Each ordering key's events are in id order on the stream, across the kill.
    by_key: dict[str, list[int]] = {}
    for m in messages:
        by_key.setdefault(f"{m.body['kind']}:{m.body['subject']['id']}", []).append(m.body["seq"])
    assert all(seqs == sorted(seqs) for seqs in by_key.values())
    resent = re.findall(r"'duplicates': (\d+)", output)
    print(f"stored at kill {at_kill} of {total}; re-sent and dropped as duplicates {resent}")
    assert uuid.UUID(messages[0].body["id"])
