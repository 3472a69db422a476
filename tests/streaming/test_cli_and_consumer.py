"""``scanguard stream run --once`` and ``stream status`` as an operator runs them, and the
documented consumer example (loadtests/stream_consumer.py) reading what they published,
continuing from its durable position when started again."""

from __future__ import annotations

import subprocess
import sys

from kernel.settings import Settings
from tests.conftest import running_app
from tests.factories.notifications import emit_event
from tests.streaming.test_publisher_process import _env


def _run(settings: Settings, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args], env=_env(settings), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def test_run_once_status_and_the_consumer_example(stream_settings: Settings) -> None:
    async with running_app(stream_settings) as (app, _):
        for i in range(5):
            await emit_event(app, None, "recall.updated", {"n": i}, subject_type="recall")
    out = _run(stream_settings, "-m", "admin_api.cli", "stream", "run", "--once")
    assert "'outbox': 5" in out
    status = _run(stream_settings, "-m", "admin_api.cli", "stream", "status")
    assert "outbox: position 5, awaiting 0, published 5" in status

    stream = stream_settings.stream
    consumer = ["-m", "loadtests.stream_consumer", "--url", stream.url, "--stream"]
    consumer += [stream.stream_name, "--subject", f"{stream.subject_prefix}.>", "--durable", "t"]
    first = _run(stream_settings, *consumer, "--max", "3")
    assert first.count("recall.updated") == 3
    assert "handled 3" in first
    rest = _run(stream_settings, *consumer, "--idle-exit", "1")
    assert rest.count("recall.updated") == 2  # the durable consumer kept its place
