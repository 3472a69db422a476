"""A consumer of the scan event stream (docs/streaming.md): a durable pull consumer that
prints one line per event and acknowledges it after handling.

    .venv/bin/python -m loadtests.stream_consumer [--url nats://127.0.0.1:4222]
        [--stream SCANGUARD] [--durable analytics] [--subject 'scanguard.*.scan']
        [--max 0] [--idle-exit 0]

The durable consumer keeps its place on the server: stop this script and start it again and
it continues after the last acknowledged message. A message not acknowledged within the ack
wait is delivered again, so a handler must be idempotent: the envelope's ``id`` (the same as
the ``Nats-Msg-Id`` header) names the event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

import nats
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

__all__ = ["consume", "main"]


def handle(event: dict[str, Any]) -> str:
    """What an analytics loader would do with one event; here: one summary line."""
    data = event["data"]
    where = data.get("country") or "-"
    return f"{event['seq']:>10} {event['kind']:<6} {event['type']:<24} {event['id']} {where}"


async def consume(
    url: str, stream: str, durable: str, subject: str, *, limit: int = 0, idle_exit_s: float = 0
) -> int:
    """Pull, handle and acknowledge events until ``limit`` (0: no limit) or ``idle_exit_s``
    seconds without a message (0: wait for ever); the number handled."""
    nc = await nats.connect(url)
    handled, idle = 0, 0.0
    try:
        js = nc.jetstream()
        config = ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=30,
            max_ack_pending=1_000,
        )
        sub = await js.pull_subscribe(subject, durable=durable, stream=stream, config=config)
        while not limit or handled < limit:
            want = min(100, limit - handled) if limit else 100
            try:
                messages = await sub.fetch(want, timeout=1.0)
            except NatsTimeout:
                idle += 1.0
                if idle_exit_s and idle >= idle_exit_s:
                    break
                continue
            idle = 0.0
            for message in messages:
                print(handle(json.loads(message.data)), flush=True)
                await message.ack()  # after handling: a crash before it means a redelivery
                handled += 1
    finally:
        await nc.close()
    return handled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="nats://127.0.0.1:4222")
    parser.add_argument("--stream", default="SCANGUARD")
    parser.add_argument("--durable", default="analytics")
    parser.add_argument("--subject", default="scanguard.>", help="e.g. scanguard.*.scan")
    parser.add_argument("--max", type=int, default=0, help="exit after this many (0: never)")
    parser.add_argument("--idle-exit", type=float, default=0, help="exit after idle seconds")
    args = parser.parse_args()
    handled = asyncio.run(
        consume(
            args.url,
            args.stream,
            args.durable,
            args.subject,
            limit=args.max,
            idle_exit_s=args.idle_exit,
        )
    )
    print(f"handled {handled}")


if __name__ == "__main__":
    main()
