"""A local WeChat server API for tests: a real HTTP server on 127.0.0.1 (random port).

Speaks ``GET /sns/jscode2session``, ``GET /cgi-bin/token`` and
``POST /cgi-bin/message/subscribe/send`` with WeChat's JSON shapes and errcodes, and can be
made slow (to exercise client timeouts). Run it with ``with FakeWeChat() as wx:`` and point
``wechat_api_base_url`` at ``wx.base_url``.

Login codes: any code registered with ``wx.add_code(code, openid)`` logs in (once: a second
use answers 40163, as WeChat does); ``wx.fail_code(code, errcode)`` answers that errcode; any
other code answers 40029 (invalid code). ``wx.slow_s`` delays every answer.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.loopback import LoopbackServer, StatefulServer

__all__ = ["ERRMSG", "FakeWeChat", "SentMessage"]

ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40003: "invalid openid",
    40013: "invalid appid",
    40029: "invalid code",
    40125: "invalid appsecret",
    40163: "code been used",
    40226: "high risk user",
    42001: "access_token expired",
    43101: "user refuse to accept the msg",
    45011: "api minute-quota reach limit mustslower retry next minute",
    47003: "argument invalid! data.thing1.value invalid",
}


@dataclass
class SentMessage:
    touser: str
    template_id: str
    data: dict[str, Any]
    page: str | None


@dataclass
class _State:
    app_id: str
    app_secret: str
    codes: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    failing: dict[str, int] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    tokens: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)
    messages: list[SentMessage] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    token_requests: int = 0
    slow_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    server: StatefulServer

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet

    def _answer(self, body: dict[str, Any], status: int = 200) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _error(self, errcode: int) -> None:
        self._answer({"errcode": errcode, "errmsg": ERRMSG.get(errcode, "error")})

    def do_GET(self) -> None:
        state = self.server.state
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        with state.lock:
            state.requests.append(url.path)
        if state.slow_s:
            time.sleep(state.slow_s)
        if query.get("appid") != state.app_id:
            return self._error(40013)
        if query.get("secret") != state.app_secret:
            return self._error(40125)
        if url.path == "/sns/jscode2session":
            return self._code2session(query)
        if url.path == "/cgi-bin/token":
            token = secrets.token_urlsafe(24)
            with state.lock:
                state.tokens.add(token)
                state.token_requests += 1
            return self._answer({"access_token": token, "expires_in": 7200})
        self._answer({"errcode": 404, "errmsg": "not found"}, status=404)

    def _code2session(self, query: dict[str, str]) -> None:
        state = self.server.state
        code = query.get("js_code", "")
        if query.get("grant_type") != "authorization_code":
            return self._error(40029)
        with state.lock:
            if code in state.failing:
                return self._error(state.failing[code])
            if code not in state.codes:
                return self._error(40029)
            if code in state.used:
                return self._error(40163)
            state.used.add(code)
            openid, unionid = state.codes[code]
        body: dict[str, Any] = {"openid": openid, "session_key": secrets.token_urlsafe(16)}
        if unionid:
            body["unionid"] = unionid
        self._answer(body)

    def do_POST(self) -> None:
        state = self.server.state
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        with state.lock:
            state.requests.append(url.path)
        if state.slow_s:
            time.sleep(state.slow_s)
        if url.path != "/cgi-bin/message/subscribe/send":
            return self._answer({"errcode": 404, "errmsg": "not found"}, status=404)
        if query.get("access_token") not in state.tokens:
            return self._error(42001)
        try:
            body = json.loads(raw)
        except ValueError:
            return self._error(47001)
        touser = body.get("touser")
        data = body.get("data")
        if not isinstance(touser, str) or not touser.startswith("o"):
            return self._error(40003)
        if not isinstance(data, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("value"), str) for v in data.values()
        ):
            return self._error(47003)
        with state.lock:
            if touser in state.refused:
                return self._error(43101)
            state.messages.append(
                SentMessage(touser, str(body.get("template_id")), data, body.get("page"))
            )
        self._answer({"errcode": 0, "errmsg": "ok", "msgid": len(state.messages)})


class FakeWeChat(LoopbackServer):
    """The fake WeChat server; a context manager that serves on a random loopback port."""

    def __init__(self, app_id: str = "wx-test-app", app_secret: str = "wx-test-secret") -> None:  # noqa: S107 - test fake
        self.state = _State(app_id=app_id, app_secret=app_secret)
        super().__init__(_Handler, self.state)

    @property
    def app_id(self) -> str:
        return self.state.app_id

    @property
    def app_secret(self) -> str:
        return self.state.app_secret

    def add_code(self, code: str, openid: str, unionid: str | None = None) -> str:
        """Make ``code`` a valid one-time login code for ``openid``."""
        with self.state.lock:
            self.state.codes[code] = (openid, unionid)
        return code

    def login_code(self, openid: str) -> str:
        """A fresh valid login code for ``openid``."""
        return self.add_code(f"code-{secrets.token_hex(8)}", openid)

    def fail_code(self, code: str, errcode: int) -> str:
        with self.state.lock:
            self.state.failing[code] = errcode
        return code

    def refuse(self, openid: str) -> None:
        """This user has not subscribed: subscribe/send answers 43101."""
        with self.state.lock:
            self.state.refused.add(openid)

    def revoke_tokens(self) -> None:
        """Every issued access token stops working (42001), as after a secret reset."""
        with self.state.lock:
            self.state.tokens.clear()

    @property
    def slow_s(self) -> float:
        return self.state.slow_s

    @slow_s.setter
    def slow_s(self, value: float) -> None:
        self.state.slow_s = value

    @property
    def messages(self) -> list[SentMessage]:
        with self.state.lock:
            return list(self.state.messages)
