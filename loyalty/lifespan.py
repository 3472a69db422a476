"""Loyalty's long-lived objects, added to ``app.state`` after the core lifespan has built the
runtime, keyring, metadata cache and channel control's ``whereabouts``
(``gateway.ports.UnitWhereabouts``): ``wechat`` (one WeChat API client) and ``loyalty`` (the
claim service)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from gateway.codes import ScannedCodes
from kernel.wechat import WeChatClient
from loyalty.claims import LoyaltyService

__all__ = ["loyalty_lifespan"]


@asynccontextmanager
async def loyalty_lifespan(app: Litestar) -> AsyncIterator[None]:
    """List it after the core lifespan in ``Litestar(lifespan=[...])``."""
    state = app.state
    wechat = WeChatClient(state.settings)
    state.update(
        wechat=wechat,
        loyalty=LoyaltyService(
            state.runtime, ScannedCodes(state.keyring, state.metadata), state.whereabouts
        ),
    )
    try:
        yield
    finally:
        await wechat.aclose()
