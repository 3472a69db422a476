"""Consumer loyalty API: WeChat login, web sessions, binding, claims, balance and history,
the catalogue and redemptions. Brand admin routes live in ``loyalty.admin_routes``.

A consumer is identified by a consumer JWT (``Authorization: Bearer``, from ``wx-login``) or,
in a browser, by the signed ``sgc`` cookie (from ``web/session``). Every ``/me`` view is the
caller's own: there is no consumer id in any consumer URL.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie, State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody

from gateway.geo import GpsFix
from kernel.client_ip import client_ip
from kernel.devices import DEVICE_COOKIE, DeviceHasher
from kernel.errors import AuthenticationFailed, InvalidInput
from kernel.pagination import Limit, Offset
from kernel.settings import provide_settings
from kernel.tenancy import Db
from kernel.wechat import WeChatClient
from loyalty import identity, queries, rewards
from loyalty.admin_routes import ADMIN_ROUTES
from loyalty.campaigns import list_items
from loyalty.claims import ClaimRequest, LoyaltyService
from loyalty.identity import CONSUMER_COOKIE
from loyalty.models import Consumer
from loyalty.schemas import (
    AccountOut,
    BindIn,
    CatalogueItemPage,
    ClaimIn,
    ClaimOut,
    ClaimPage,
    ConsumerTokenOut,
    DrawPage,
    LedgerEntryPage,
    MeOut,
    RedeemIn,
    RedemptionOut,
    RedemptionPage,
    WebSessionOut,
    WxLoginIn,
)
from loyalty.views import claim_out, draw_out, item_out, ledger_out, redemption_out

__all__ = ["ROUTES", "provide_consumer", "provide_consumer_id"]

CONSUMER_SECURITY: list[dict[str, list[str]]] = [{"BearerToken": []}]
COOKIE_MAX_AGE_S = 2 * 365 * 86400
CurrentConsumer = NamedDependency[Consumer]
ConsumerId = NamedDependency[uuid.UUID]


def _loyalty(state: State) -> LoyaltyService:
    service: LoyaltyService = state.loyalty
    return service


def _wechat(state: State) -> WeChatClient:
    client: WeChatClient = state.wechat
    return client


def provide_consumer_id(request: Request[Any, Any, Any]) -> uuid.UUID:
    """Dependency ``consumer_id``: who the consumer JWT (``Authorization: Bearer``) or else
    the signed ``sgc`` cookie names; no database access (see ``provide_consumer``)."""
    secret = provide_settings(request.app.state).auth.jwt_secret
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return identity.subject_of_token(secret, token.strip())
    cookie = request.cookies.get(CONSUMER_COOKIE)
    parsed = identity.parse_cookie(secret, cookie) if cookie else None
    if parsed is None:
        raise AuthenticationFailed(
            "log in with WeChat (Bearer token) or open a web session first",
            code="missing_token",
        )
    return parsed


async def provide_consumer(consumer_id: ConsumerId, db: Db) -> Consumer:
    """Dependency ``consumer``: the consumer row (merges followed)."""
    return await identity.resolve_consumer(db, consumer_id)


def _consumer_cookie(secret: bytes, consumer_id: uuid.UUID) -> Cookie:
    return Cookie(
        key=CONSUMER_COOKIE,
        value=identity.cookie_value(secret, consumer_id),
        max_age=COOKIE_MAX_AGE_S,
        httponly=True,
        samesite="lax",
    )


# ------------------------------------------------------------------------------- identity
class ConsumerAuthController(Controller):
    path = "/v1/loyalty"
    tags = ("loyalty",)

    @post("/wx-login", status_code=200)
    async def wx_login(self, data: JSONBody[WxLoginIn], db: Db, state: State) -> ConsumerTokenOut:
        """Exchange a mini-program ``wx.login`` code (WeChat ``code2session``) for a
        short-lived consumer token. WeChat errors: 400 ``wechat_rejected`` (bad or used
        code, `errcode` in the body), 429 ``wechat_rate_limited``, 502 ``wechat_unavailable``,
        504 ``wechat_timeout``."""
        session = await _wechat(state).code2session(data.code)
        consumer = await identity.consumer_by_openid(db, session.openid, session.unionid)
        settings = provide_settings(state)
        token = identity.issue_token(
            settings.auth.jwt_secret, consumer, settings.loyalty.consumer_token_ttl_s
        )
        return ConsumerTokenOut(
            access_token=token.access_token,
            expires_in=token.expires_in,
            consumer_id=token.consumer_id,
        )

    @post("/web/session", status_code=200)
    async def open_web_session(
        self, request: Request[Any, Any, Any], db: Db, state: State
    ) -> Response[WebSessionOut]:
        """A browser's anonymous consumer, tied to its ``sgd`` device cookie (set here when
        missing); answered with the signed ``sgc`` cookie that identifies the consumer."""
        settings = provide_settings(state)
        device_id = request.cookies.get(DEVICE_COOKIE)
        cookies = []
        if device_id is None or not (8 <= len(device_id) <= 64):
            device_id = secrets.token_urlsafe(16)
            cookies.append(
                Cookie(
                    key=DEVICE_COOKIE,
                    value=device_id,
                    max_age=COOKIE_MAX_AGE_S,
                    httponly=True,
                    samesite="lax",
                )
            )
        device = DeviceHasher(settings.auth.jwt_secret).hash(device_id)
        consumer = await identity.consumer_by_device(db, device)
        cookies.append(_consumer_cookie(settings.auth.jwt_secret, consumer.id))
        return Response(WebSessionOut(consumer_id=consumer.id), cookies=cookies)

    @post(
        "/me/bind-wechat",
        status_code=200,
        security=CONSUMER_SECURITY,
        dependencies={
            "consumer_id": Provide(provide_consumer_id, sync_to_thread=False),
            "consumer": Provide(provide_consumer),
        },
    )
    async def bind_wechat(
        self, data: JSONBody[BindIn], consumer: CurrentConsumer, db: Db, state: State
    ) -> Response[ConsumerTokenOut]:
        """Bind this (anonymous web) consumer to a WeChat identity. When that WeChat user
        already has points, this consumer's points, pending points, claims and prizes move to
        it (exactly once); the answer's token and ``sgc`` cookie name the consumer to use."""
        session = await _wechat(state).code2session(data.code)
        target = await identity.bind_wechat(db, consumer, session.openid, session.unionid)
        settings = provide_settings(state)
        token = identity.issue_token(
            settings.auth.jwt_secret, target, settings.loyalty.consumer_token_ttl_s
        )
        return Response(
            ConsumerTokenOut(
                access_token=token.access_token,
                expires_in=token.expires_in,
                consumer_id=token.consumer_id,
            ),
            cookies=[_consumer_cookie(settings.auth.jwt_secret, target.id)],
        )


# ------------------------------------------------------------------------ consumer's own data
class ConsumerController(Controller):
    path = "/v1/loyalty"
    tags = ("loyalty",)
    security = CONSUMER_SECURITY
    dependencies = {
        "consumer_id": Provide(provide_consumer_id, sync_to_thread=False),
        "consumer": Provide(provide_consumer),
    }

    @post("/claims", status_code=201)
    async def create_claim(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[ClaimIn],
        consumer_id: ConsumerId,
        db: Db,
        state: State,
    ) -> ClaimOut:
        """Claim the points of a scanned code. The device must be the code's first scanner
        (``device_id`` as sent to ``POST /v1/scans``, or the browser's ``sgd`` cookie); PIN
        products need ``pin``. 409 ``already_claimed`` / ``not_scanned`` / ``no_campaign``,
        403 ``not_first_scanner``, 422 ``wrong_pin`` / ``pin_required``, 429
        ``pin_attempts_exceeded``. A claim matching a fraud signal is ``held``: its points
        are pending until a brand admin releases them."""
        settings = provide_settings(state)
        device_id = data.device_id or request.cookies.get(DEVICE_COOKIE)
        if not device_id:
            raise InvalidInput(
                "send device_id (mini-program) or the sgd cookie (browser)",
                code="device_required",
                field="device_id",
            )
        peer = request.client.host if request.client else None
        ip = client_ip(
            peer, request.headers.get("x-forwarded-for"), settings.gateway.trusted_proxies
        )
        gps = (
            GpsFix(data.location.lat, data.location.lon, data.location.accuracy_m)
            if data.location
            else None
        )
        outcome = await _loyalty(state).claim(
            db, consumer_id, ClaimRequest(data.url, device_id, ip, data.pin, gps)
        )
        draw = None
        if outcome.draw is not None:
            name = outcome.draw.prize.name if outcome.draw.prize else None
            draw = draw_out(outcome.draw.draw, name)
        return claim_out(outcome.claim, draw)

    @get("/me")
    async def get_me(self, consumer: CurrentConsumer, db: Db) -> MeOut:
        """My balances (available and pending) per brand."""
        accounts = await queries.accounts_of(db, consumer.id)
        return MeOut(
            consumer_id=consumer.id,
            wechat_bound=consumer.openid is not None,
            accounts=[
                AccountOut(brand_id=a.brand_id, balance=a.balance, pending=a.pending)
                for a in accounts
            ],
        )

    @get("/me/ledger")
    async def list_my_ledger(
        self,
        consumer: CurrentConsumer,
        db: Db,
        brand_id: FromQuery[uuid.UUID | None] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> LedgerEntryPage:
        """My points history, newest first."""
        entries, total = await queries.ledger_page(
            db, brand_id=brand_id, consumer_id=consumer.id, limit=limit, offset=offset
        )
        return LedgerEntryPage(
            items=[ledger_out(e) for e in entries], total=total, limit=limit, offset=offset
        )

    @get("/me/claims")
    async def list_my_claims(
        self, consumer: CurrentConsumer, db: Db, limit: Limit = 50, offset: Offset = 0
    ) -> ClaimPage:
        """My claims, newest first, with their draws."""
        claims, total = await queries.claims_of(db, consumer.id, limit=limit, offset=offset)
        draws = await queries.draws_of(db, [c.id for c in claims])
        names = await queries.prize_names(db, [d.prize_id for d in draws.values() if d.prize_id])
        return ClaimPage(
            items=[
                claim_out(
                    c,
                    draw_out(draws[c.id], names.get(draws[c.id].prize_id or uuid.UUID(int=0)))
                    if c.id in draws
                    else None,
                )
                for c in claims
            ],
            total=total,
            limit=limit,
            offset=offset,
        )

    @get("/me/prizes")
    async def list_my_prizes(
        self, consumer: CurrentConsumer, db: Db, limit: Limit = 50, offset: Offset = 0
    ) -> DrawPage:
        """Prizes I won."""
        draws, total = await queries.won_draws(db, consumer.id, limit=limit, offset=offset)
        names = await queries.prize_names(db, [d.prize_id for d in draws if d.prize_id])
        return DrawPage(
            items=[draw_out(d, names.get(d.prize_id) if d.prize_id else None) for d in draws],
            total=total,
            limit=limit,
            offset=offset,
        )

    @get("/me/redemptions")
    async def list_my_redemptions(
        self, consumer: CurrentConsumer, db: Db, limit: Limit = 50, offset: Offset = 0
    ) -> RedemptionPage:
        """My redemptions, newest first."""
        rows, total = await queries.redemptions_of(db, consumer.id, limit=limit, offset=offset)
        return RedemptionPage(
            items=[redemption_out(r, None) for r in rows], total=total, limit=limit, offset=offset
        )

    @post("/redemptions", status_code=201)
    async def create_redemption(
        self, data: JSONBody[RedeemIn], consumer: CurrentConsumer, db: Db
    ) -> Response[RedemptionOut]:
        """Redeem a catalogue item for points. Idempotent by ``client_key``: a repeat
        answers 200 with the first result. 409 ``out_of_stock`` / ``insufficient_points`` /
        ``client_key_reused``."""
        consumer_id = consumer.id
        result = await rewards.redeem(db, consumer_id, data.item_id, data.client_key)
        body = redemption_out(result.redemption, result.payout.order_no if result.payout else None)
        return Response(body, status_code=201 if result.created else 200)


@get("/v1/loyalty/brands/{brand_id:uuid}/catalogue", tags=["loyalty"])
async def list_catalogue(
    brand_id: FromPath[uuid.UUID], db: Db, limit: Limit = 50, offset: Offset = 0
) -> CatalogueItemPage:
    """A brand's active redemption catalogue (public)."""
    items, total = await list_items(db, brand_id, only_active=True, limit=limit, offset=offset)
    return CatalogueItemPage(
        items=[item_out(i) for i in items], total=total, limit=limit, offset=offset
    )


ROUTES: list[Any] = [
    ConsumerAuthController,
    ConsumerController,
    list_catalogue,
    *ADMIN_ROUTES,
]
