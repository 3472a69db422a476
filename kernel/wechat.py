"""WeChat server API client: login (code2session), access token, subscribe messages.

One ``WeChatClient`` per process (created in the lifespan, closed at shutdown) over one
``httpx.AsyncClient``. Every failure becomes a ``WeChatError`` subclass carrying WeChat's
``errcode`` where there is one, so callers map it to a clear problem:

- ``WeChatRejected`` — WeChat answered with an errcode about the request (bad or used login
  code 40029/40163, invalid openid 40003, user refused 43101, high-risk user 40226...): a 4xx.
- ``WeChatRateLimited`` — errcode 45011 (per-user login frequency) or 45009: a 429.
- ``WeChatUnavailable`` — system busy (-1), an unexpected status or body, a transport error: a 502.
- ``WeChatTimeout`` — no answer within ``wechat_timeout_s``: a 504.

The access token (``/cgi-bin/token``, valid 7,200 s) is cached per process and refreshed
early; an ``access_token`` errcode (40001/42001/40014) drops it and retries once.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from kernel.errors import DomainError, RateLimited
from kernel.settings import Settings

__all__ = [
    "Session",
    "WeChatClient",
    "WeChatError",
    "WeChatRateLimited",
    "WeChatRejected",
    "WeChatTimeout",
    "WeChatUnavailable",
]

log = structlog.get_logger("loyalty.wechat")

RATE_LIMIT_ERRCODES = frozenset({45009, 45011})
TOKEN_ERRCODES = frozenset({40001, 40014, 42001})
BUSY_ERRCODES = frozenset({-1})
TOKEN_REFRESH_MARGIN_S = 300.0


class WeChatError(DomainError):
    """Base of every WeChat failure (``errcode`` is WeChat's, 0 when there was none)."""

    status = 502
    default_code = "wechat_unavailable"
    title = "WeChat unavailable"

    def __init__(self, detail: str, *, errcode: int = 0, code: str | None = None) -> None:
        super().__init__(detail, code=code, extra={"errcode": errcode} if errcode else None)
        self.errcode = errcode


class WeChatRejected(WeChatError):
    status = 400
    default_code = "wechat_rejected"
    title = "WeChat rejected the request"


class WeChatUnavailable(WeChatError):
    status = 502
    default_code = "wechat_unavailable"
    title = "WeChat unavailable"


class WeChatTimeout(WeChatError):
    status = 504
    default_code = "wechat_timeout"
    title = "WeChat did not answer in time"


class WeChatRateLimited(RateLimited):
    """WeChat's own frequency limit; clients retry after a minute."""

    def __init__(self, detail: str, *, errcode: int) -> None:
        super().__init__(detail, retry_after=60, code="wechat_rate_limited")
        self.errcode = errcode


@dataclass(frozen=True, slots=True)
class Session:
    """What code2session returns (``session_key`` never leaves the server)."""

    openid: str
    session_key: str
    unionid: str | None


class WeChatClient:
    """The WeChat server API for one mini-program (app id and secret from settings)."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient | None = None) -> None:
        self.base_url = settings.wechat.api_base_url.rstrip("/")
        self.app_id = settings.wechat.app_id
        self.app_secret = settings.wechat.app_secret
        self.timeout_s = settings.wechat.timeout_s
        self._http = http or httpx.AsyncClient(timeout=settings.wechat.timeout_s)
        self._owns_http = http is None
        self._token: tuple[str, float] | None = None  # (token, monotonic expiry)
        self._token_lock = asyncio.Lock()

    @property
    def configured(self) -> bool:
        return bool(self.app_id and self.app_secret)

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    # ---------------------------------------------------------------------------------------
    async def code2session(self, js_code: str) -> Session:
        """Exchange a ``wx.login`` code for the user's openid (``GET /sns/jscode2session``)."""
        self._require_config()
        body = await self._call(
            "GET",
            "/sns/jscode2session",
            params={
                "appid": self.app_id,
                "secret": self.app_secret,
                "js_code": js_code,
                "grant_type": "authorization_code",
            },
        )
        openid = body.get("openid")
        if not isinstance(openid, str) or not openid:
            raise WeChatUnavailable("code2session answered without an openid")
        unionid = body.get("unionid")
        return Session(
            openid=openid,
            session_key=str(body.get("session_key", "")),
            unionid=unionid if isinstance(unionid, str) and unionid else None,
        )

    async def access_token(self, *, refresh: bool = False) -> str:
        """The app's access token (``GET /cgi-bin/token``), cached until shortly before expiry."""
        self._require_config()
        async with self._token_lock:
            if not refresh and self._token and self._token[1] > time.monotonic():
                return self._token[0]
            body = await self._call(
                "GET",
                "/cgi-bin/token",
                params={
                    "grant_type": "client_credential",
                    "appid": self.app_id,
                    "secret": self.app_secret,
                },
            )
            token = body.get("access_token")
            if not isinstance(token, str) or not token:
                raise WeChatUnavailable("token endpoint answered without an access_token")
            expires_in = float(body.get("expires_in", 7200))
            self._token = (token, time.monotonic() + max(0.0, expires_in - TOKEN_REFRESH_MARGIN_S))
            return token

    async def send_subscribe_message(
        self,
        openid: str,
        template_id: str,
        data: dict[str, str],
        *,
        page: str | None = None,
        state: str = "formal",
        lang: str = "zh_CN",
    ) -> None:
        """Send one subscribe message (``POST /cgi-bin/message/subscribe/send``).

        ``data`` maps template keys to values (wrapped as ``{"value": ...}``). Raises
        ``WeChatRejected`` when WeChat refuses it (43101: the user has not subscribed; 40003:
        bad openid; 47003: bad template data) — do not retry those.
        """
        payload: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": {key: {"value": value} for key, value in data.items()},
            "miniprogram_state": state,
            "lang": lang,
        }
        if page:
            payload["page"] = page
        for attempt in (1, 2):
            token = await self.access_token(refresh=attempt == 2)
            try:
                await self._call(
                    "POST",
                    "/cgi-bin/message/subscribe/send",
                    params={"access_token": token},
                    json=payload,
                )
                return
            except WeChatRejected as exc:
                if exc.errcode in TOKEN_ERRCODES and attempt == 1:
                    continue  # token revoked or expired early: fetch a new one once
                raise

    # ---------------------------------------------------------------------------------------
    def _require_config(self) -> None:
        if not self.configured:
            raise WeChatUnavailable(
                "WeChat login is not configured (wechat_app_id / wechat_app_secret)",
                code="wechat_not_configured",
            )

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str],
        json: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        try:
            response = await self._http.request(
                method, self.base_url + path, params=params, json=json, timeout=self.timeout_s
            )
        except httpx.TimeoutException as exc:
            log.warning("loyalty.wechat.timeout", path=path)
            raise WeChatTimeout(f"WeChat {path} timed out after {self.timeout_s} s") from exc
        except httpx.HTTPError as exc:
            log.warning("loyalty.wechat.transport_error", path=path, error=type(exc).__name__)
            raise WeChatUnavailable(f"WeChat {path}: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise WeChatUnavailable(f"WeChat {path} answered HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise WeChatUnavailable(f"WeChat {path} answered a non-JSON body") from exc
        if not isinstance(body, dict):
            raise WeChatUnavailable(f"WeChat {path} answered an unexpected body")
        errcode = body.get("errcode", 0)
        if isinstance(errcode, int) and errcode != 0:
            errmsg = str(body.get("errmsg", ""))[:200]
            log.info("loyalty.wechat.errcode", path=path, errcode=errcode, errmsg=errmsg)
            detail = f"WeChat {path}: errcode {errcode} {errmsg}".strip()
            if errcode in RATE_LIMIT_ERRCODES:
                raise WeChatRateLimited(detail, errcode=errcode)
            if errcode in BUSY_ERRCODES:
                raise WeChatUnavailable(detail, errcode=errcode)
            raise WeChatRejected(detail, errcode=errcode)
        return body
