"""Audiences and senders the worker uses beyond the event payload: recalls and WeChat.

- ``RecallAudience``: a ``recall.*`` event reaches the recall's affected distributors and the
  consumers who scanned affected units (``anticounterfeit.trace.recall_reports``), page by page.
- ``WeChatRecallSender``: a subscribe message through the loyalty domain's ``WeChatClient``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from admin_api.notifications.ports import ConsumerTarget, SendOutcome
from admin_api.trace_sources import TRACE_SOURCES
from anticounterfeit.trace import recall_reports
from kernel.errors import NotFound
from kernel.outbox import OutboxEvent
from kernel.wechat import WeChatClient, WeChatError, WeChatRateLimited, WeChatRejected

__all__ = ["CONSUMER_RECALL_EVENTS", "RecallAudience", "WeChatRecallSender", "recall_message"]

log = structlog.get_logger("admin_api.notifications.audiences")

# Consumers hear when a recall starts or changes; its closing concerns distributors only.
CONSUMER_RECALL_EVENTS = frozenset({"recall.started", "recall.updated"})
WECHAT_THING_MAX = 20  # WeChat "thing" template values: at most 20 characters


def _recall_id(event: OutboxEvent) -> uuid.UUID | None:
    try:
        return uuid.UUID(str((event.payload or {}).get("recall_id")))
    except ValueError:
        log.warning("notifications.recall_event.no_recall_id", event_id=event.id)
        return None


class RecallAudience:
    """The distributors and consumers a recall event must reach."""

    async def distributor_page(
        self, session: AsyncSession, event: OutboxEvent, *, after: str | None, limit: int
    ) -> list[uuid.UUID]:
        recall_id = _recall_id(event)
        if recall_id is None or event.brand_id is None:
            return []
        try:
            return await recall_reports.recall_distributor_ids(
                session,
                TRACE_SOURCES,
                event.brand_id,
                recall_id,
                after=uuid.UUID(after) if after else None,
                limit=limit,
            )
        except NotFound:  # the event outlived its recall: nobody left to tell
            return []

    async def consumer_page(
        self, session: AsyncSession, event: OutboxEvent, *, after: str | None, limit: int
    ) -> Sequence[ConsumerTarget]:
        recall_id = _recall_id(event)
        if recall_id is None or event.brand_id is None:
            return []
        if event.event_type not in CONSUMER_RECALL_EVENTS:
            return []
        try:
            return await recall_reports.recall_consumer_targets(
                session, TRACE_SOURCES, event.brand_id, recall_id, after=after, limit=limit
            )
        except NotFound:
            return []


def recall_message(event: OutboxEvent) -> dict[str, str]:
    """Template data of the recall subscribe message (keys documented in notifications.md)."""
    payload = event.payload or {}

    def thing(value: object) -> str:
        text = " ".join(str(value or "").split())
        return text if len(text) <= WECHAT_THING_MAX else text[: WECHAT_THING_MAX - 1] + "…"

    return {
        "thing1": thing(payload.get("reason") or "产品召回"),
        "thing2": thing(payload.get("consumer_instructions") or "请停止使用并联系品牌方"),
        "phrase3": "已更新" if event.event_type == "recall.updated" else "召回中",
    }


class WeChatRecallSender:
    """Sends the recall subscribe message to one openid; refusals are not retried."""

    def __init__(self, client: WeChatClient, template_id: str) -> None:
        self.client = client
        self.template_id = template_id

    async def send(self, openid: str, event: OutboxEvent) -> SendOutcome:
        started = time.perf_counter()
        recall_id = (event.payload or {}).get("recall_id", "")
        try:
            await self.client.send_subscribe_message(
                openid,
                self.template_id,
                recall_message(event),
                page=f"pages/recall/index?recall_id={recall_id}",
            )
        except WeChatRejected as exc:  # not subscribed, bad openid...: retrying cannot help
            return SendOutcome(
                False, None, f"errcode {exc.errcode}: {exc.detail}"[:500], _ms(started), False
            )
        except (WeChatError, WeChatRateLimited) as exc:
            return SendOutcome(
                False, None, f"{type(exc).__name__}: {exc.detail}"[:500], _ms(started)
            )
        return SendOutcome(True, 200, None, _ms(started))

    async def aclose(self) -> None:
        await self.client.aclose()


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
