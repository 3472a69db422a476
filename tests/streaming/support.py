"""Read back what a test's stream holds (every message, by sequence)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import nats
from nats.js.errors import NotFoundError

from kernel.settings import Settings


@dataclass(frozen=True, slots=True)
class Stored:
    seq: int
    subject: str
    msg_id: str
    body: dict[str, Any]


async def stored_messages(settings: Settings) -> list[Stored]:
    """Every message of the test's stream in stream order (empty when it does not exist)."""
    nc = await nats.connect(settings.stream.url, connect_timeout=2)
    try:
        js = nc.jetstream()
        try:
            info = await js.stream_info(settings.stream.stream_name)
        except NotFoundError:
            return []
        out: list[Stored] = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(settings.stream.stream_name, seq)
            assert msg.seq is not None
            assert msg.subject is not None
            headers = msg.headers or {}
            out.append(
                Stored(msg.seq, msg.subject, headers["Nats-Msg-Id"], json.loads(msg.data or b""))
            )
        return out
    finally:
        await nc.close()


async def stored_count(settings: Settings) -> int:
    nc = await nats.connect(settings.stream.url, connect_timeout=2)
    try:
        try:
            info = await nc.jetstream().stream_info(settings.stream.stream_name)
        except NotFoundError:
            return 0
        return int(info.state.messages)
    finally:
        await nc.close()
