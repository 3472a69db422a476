"""A local payment platform for payout tests: a real HTTP server on 127.0.0.1 (random port).

``POST /v1/transfers`` with ``{"out_bill_no", "openid", "transfer_amount", ...}``: idempotent
by ``out_bill_no`` (a repeat answers the first result and pays nothing more). It can fail the
first N requests with 500 (``fail_first``) and refuses (429) more than ``max_per_s`` requests
in any one-second window, recording every request's arrival time.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.loopback import LoopbackServer, StatefulServer

__all__ = ["FakePayments"]


@dataclass
class _State:
    max_per_s: int
    fail_first: int = 0
    paid: dict[str, dict[str, Any]] = field(default_factory=dict)
    arrivals: list[float] = field(default_factory=list)
    requests: int = 0
    throttled: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    server: StatefulServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_POST(self) -> None:
        state = self.server.state
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        now = time.monotonic()
        with state.lock:
            state.requests += 1
            recent = [t for t in state.arrivals if now - t < 1.0]
            if len(recent) >= state.max_per_s:
                state.throttled += 1
                throttled = True
            else:
                state.arrivals.append(now)
                throttled = False
            failing = state.fail_first > 0
            if failing and not throttled:
                state.fail_first -= 1
        if self.path != "/v1/transfers":
            return self._answer(404, {"code": "NOT_FOUND"})
        if throttled:
            return self._answer(429, {"code": "FREQUENCY_LIMITED"})
        if failing:
            return self._answer(500, {"code": "SYSTEM_ERROR"})
        order_no = body.get("out_bill_no")
        if not isinstance(order_no, str) or not body.get("openid"):
            return self._answer(400, {"code": "PARAM_ERROR"})
        with state.lock:
            state.paid.setdefault(order_no, body)
        self._answer(200, {"out_bill_no": order_no, "state": "ACCEPTED"})


class FakePayments(LoopbackServer):
    def __init__(self, *, max_per_s: int = 1000, fail_first: int = 0) -> None:
        self.state = _State(max_per_s=max_per_s, fail_first=fail_first)
        super().__init__(_Handler, self.state)

    @property
    def paid(self) -> dict[str, dict[str, Any]]:
        with self.state.lock:
            return dict(self.state.paid)

    def max_in_any_second(self) -> int:
        with self.state.lock:
            times = sorted(self.state.arrivals)
        best, start = 0, 0
        for end, t in enumerate(times):
            while t - times[start] >= 1.0:
                start += 1
            best = max(best, end - start + 1)
        return best
