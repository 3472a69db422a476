"""A stdlib HTTP server on 127.0.0.1 (random port) in a daemon thread, as a context manager:
the base of the local stand-ins for external parties."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

__all__ = ["LoopbackServer", "StatefulServer"]


class StatefulServer(ThreadingHTTPServer):
    """Handlers reach the fake's shared state as ``self.server.state``."""

    daemon_threads = True
    state: Any


class LoopbackServer:
    def __init__(self, handler: type[BaseHTTPRequestHandler], state: Any) -> None:
        self._server = StatefulServer(("127.0.0.1", 0), handler)
        self._server.state = state
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
