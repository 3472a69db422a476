"""Composition root of the traceability read models: the ``TraceSources`` bundle
(``anticounterfeit.trace.ports``) of the other packages' implementations. Stored on
``app.state.trace_sources``; stateless (modules), so workers and tools use ``TRACE_SOURCES``.
"""

from __future__ import annotations

from anticounterfeit.trace.ports import TraceSources
from channel_control.logistics import queries as channel_queries
from gateway import trace_queries
from loyalty import trace_source

__all__ = ["TRACE_SOURCES", "build_trace_sources"]


def build_trace_sources() -> TraceSources:
    return TraceSources(scans=trace_queries, channel=channel_queries, claims=trace_source)


TRACE_SOURCES = build_trace_sources()
