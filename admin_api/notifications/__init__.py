"""Notification pipeline: transactional outbox → delivery worker → webhooks, inboxes, WeChat.

See docs/notifications.md. Modules: ``models`` (tables), ``signing`` (signatures, patterns,
backoff), ``services`` (subscriptions, delivery log, replay, stats), ``inbox``, ``worker``,
``runner`` (CLI and in-server worker), ``schemas`` and ``routes``.
"""
