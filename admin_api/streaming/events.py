"""What goes on the stream: subjects, de-duplication ids, ordering keys and payloads.

Every message is one JSON envelope (schema ``scanguard.event/1``, docs/streaming.md) on the
subject ``<prefix>.<brand_id>.<kind>``. The ``Nats-Msg-Id`` header is derived from the
event's own id (``scan_uid`` or the outbox ``event_uid``), never from the publish attempt,
so a message published again after a crash is recognised by JetStream as the same one.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import msgspec

from gateway.queries import LoggedScan
from kernel.outbox import OutboxEvent

__all__ = [
    "KINDS",
    "SCHEMA",
    "StreamMessage",
    "kind_of",
    "outbox_message",
    "scan_message",
    "subject_for",
]

SCHEMA = "scanguard.event/1"
KINDS = ("scan", "alert", "recall", "claim")
#: Outbox event type prefixes that are streamed, and their kind; other events are skipped.
_OUTBOX_KINDS = (("diversion.alert.", "alert"), ("recall.", "recall"), ("points.", "claim"))
_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True, slots=True)
class StreamMessage:
    """One message to publish; ``order_key`` names the sequence it must keep its place in."""

    subject: str
    msg_id: str
    order_key: str
    event_type: str
    body: bytes

    @property
    def headers(self) -> dict[str, str]:
        return {"Nats-Msg-Id": self.msg_id, "Scanguard-Type": self.event_type}


def kind_of(event_type: str) -> str | None:
    """The stream kind of an outbox event type (None: not streamed)."""
    for prefix, kind in _OUTBOX_KINDS:
        if event_type.startswith(prefix):
            return kind
    return None


def subject_for(prefix: str, brand_id: uuid.UUID | None, kind: str) -> str:
    """``<prefix>.<brand_id>.<kind>``; events without a brand go under ``platform``."""
    return f"{prefix}.{brand_id or 'platform'}.{kind}"


def scan_message(prefix: str, scan: LoggedScan) -> StreamMessage:
    """A scan log row as a ``scan.recorded`` message, ordered by its code."""
    data = asdict(scan)
    seq = data.pop("id")
    envelope = _envelope(
        event_id=scan.scan_uid,
        kind="scan",
        event_type="scan.recorded",
        brand_id=scan.brand_id,
        occurred_at=scan.scanned_at,
        source="scans",
        seq=seq,
        subject={"type": "code", "id": str(scan.code_id)},
        data=data,
    )
    return StreamMessage(
        subject=subject_for(prefix, scan.brand_id, "scan"),
        msg_id=f"scan:{scan.scan_uid}",
        order_key=f"code:{scan.code_id}",
        event_type="scan.recorded",
        body=_encode(envelope),
    )


def outbox_message(prefix: str, event: OutboxEvent) -> StreamMessage | None:
    """An outbox event as a message, or None when its type is not streamed.

    A claim names its code, so claims keep their place among their code's events; an alert
    or a recall is ordered by its own id (its opening before its updates and closing).
    """
    kind = kind_of(event.event_type)
    if kind is None:
        return None
    payload = event.payload or {}
    code_id = payload.get("code_id")
    by_code = code_id is not None
    order_key = f"code:{code_id}" if by_code else f"{event.subject_type}:{event.subject_id}"
    envelope = _envelope(
        event_id=event.event_uid,
        kind=kind,
        event_type=event.event_type,
        brand_id=event.brand_id,
        occurred_at=event.created_at,
        source="outbox",
        seq=event.id,
        subject={"type": event.subject_type, "id": event.subject_id},
        data=payload,
    )
    return StreamMessage(
        subject=subject_for(prefix, event.brand_id, kind),
        msg_id=f"event:{event.event_uid}",
        order_key=order_key,
        event_type=event.event_type,
        body=_encode(envelope),
    )


def _envelope(
    *,
    event_id: uuid.UUID,
    kind: str,
    event_type: str,
    brand_id: uuid.UUID | None,
    occurred_at: datetime,
    source: str,
    seq: int,
    subject: dict[str, str],
    data: dict[str, Any],
) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "id": str(event_id),
        "kind": kind,
        "type": event_type,
        "brand_id": str(brand_id) if brand_id else None,
        "occurred_at": occurred_at,
        "source": source,
        "seq": seq,
        "subject": subject,
        "data": data,
    }
