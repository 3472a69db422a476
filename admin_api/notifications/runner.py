"""Where the delivery worker runs: ``scanguard worker`` or inside the server (demo; started
by ``admin_api.state.AppServices``).

``build_worker`` is the one place that wires the worker to the domains: audiences of event
families (a recall's distributors and consumers) and the WeChat sender.
"""

from __future__ import annotations

import asyncio
import signal

import structlog

from admin_api.notifications.audiences import RecallAudience, WeChatRecallSender
from admin_api.notifications.worker import NotificationWorker
from kernel.partitions import partition_loop
from kernel.runtime import Runtime
from kernel.wechat import WeChatClient

__all__ = ["build_worker", "run_worker"]

log = structlog.get_logger("admin_api.notifications.runner")


def build_worker(
    runtime: Runtime, *, concurrency: int = 16, batch_size: int = 100
) -> NotificationWorker:
    """A worker wired to the domains' audiences and senders.

    WeChat messages go out only when the mini-program and the recall template are configured
    (``wechat_app_id``, ``wechat_app_secret``, ``wechat_recall_template_id``).
    """
    settings = runtime.settings
    wechat = None
    if settings.wechat.recall_template_id and settings.wechat.app_id and settings.wechat.app_secret:
        wechat = WeChatRecallSender(WeChatClient(settings), settings.wechat.recall_template_id)
    return NotificationWorker(
        runtime,
        audiences={"recall.": RecallAudience()},
        wechat=wechat,
        concurrency=concurrency,
        batch_size=batch_size,
    )


async def run_worker(
    runtime: Runtime, *, concurrency: int = 16, batch_size: int = 100, once: bool = False
) -> dict[str, object]:
    """Run until SIGTERM/SIGINT (the step in progress finishes), or one pass with ``once``."""
    worker = build_worker(runtime, concurrency=concurrency, batch_size=batch_size)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        if once:
            while await worker.step():
                pass
        else:
            # Month partitions made ahead and retired by retention (PostgreSQL only).
            maintenance = asyncio.create_task(
                partition_loop(runtime.engine, runtime.settings, stop)
            )
            try:
                await worker.run(stop)
            finally:
                stop.set()
                await maintenance
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await worker.close()
    return worker.snapshot()
