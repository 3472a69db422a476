"""The scan event stream: scans and outbox events (alerts, recalls, claims) to NATS JetStream.

``scanguard stream run`` reads the scan log and the transactional outbox in id order, each by
its own durable cursor (``stream_cursors``), and publishes them with a de-duplication id so a
publish retried after a crash is stored once (docs/streaming.md).
"""
