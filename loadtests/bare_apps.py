"""The two reference apps of the benchmark, served by the same ASGI server as the gateway.

``uvicorn --factory loadtests.bare_apps:create_bare_app`` serves:

- ``POST /v1/scans``: the stack's ceiling for a scan. It decodes the same JSON body as the
  gateway and runs the gateway's own ``SCAN_SCRIPT`` (EVALSHA, same keys and arguments, same
  Redis client settings) and answers a small JSON verdict. No MAC check, no metadata, no
  database: only what the stack (ASGI server, Litestar, redis-py, Redis) costs.
- ``POST /v1/plain_scans``: the plain stack's ceiling (issue 17): the same body decoded, then
  one pipelined round trip of GET (the code's state) + INCR (the client's rate-limit window)
  + XADD (a capped scan stream), no script. What any gateway on this stack must at least pay
  for one read, one counter and one durable-ish append.
- ``GET /hello``: ``{"hello": "world"}``, the cost of a request with no work at all.

Settings come from ``SCANGUARD_*`` like the gateway's (Redis URL and key prefix).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from litestar import Litestar, Request, get, post
from litestar.datastructures import State

from gateway.service import SCAN_SCRIPT, STATE_TTL_S, WINDOW_S
from kernel.cache import create_redis
from kernel.settings import Settings

__all__ = ["create_bare_app"]

BARE_POSITION = (23.1291, 113.2644, 50_000)  # lat, lon, uncertainty in metres (Guangzhou)


class BareScanIn(msgspec.Struct):
    url: str
    device_id: str


class BareScanOut(msgspec.Struct):
    verdict: str
    count: int
    devices: int


@get("/hello", sync_to_thread=False)
def hello() -> dict[str, str]:
    """No work at all."""
    return {"hello": "world"}


@post("/v1/scans", status_code=200)
async def bare_scan(request: Request[Any, Any, Any], state: State, data: BareScanIn) -> BareScanOut:
    """Only the Redis step of a scan: the gateway's script with the gateway's keys."""
    settings: Settings = state.settings
    prefix = settings.redis.prefix
    serial = data.url.rsplit("/", 1)[-1]
    ip = request.headers.get("x-forwarded-for", "127.0.0.1")
    window = int(time.time() // WINDOW_S)
    keys = [
        f"{prefix}gw:code:{{{serial}}}",
        f"{prefix}gw:dev:{{{serial}}}",
        f"{prefix}gw:rl:ip:{ip}:{window}",
        f"{prefix}gw:rl:dev:{data.device_id}:{window}",
    ]
    args = [
        int(time.time() * 1000),
        data.device_id,
        1,
        "",
        settings.gateway.rate_limit_ip_per_minute,
        settings.gateway.rate_limit_device_per_minute,
        WINDOW_S,
        STATE_TTL_S,
        # An IP-located scan's position (the impossible-travel check runs in the script).
        *BARE_POSITION,
        settings.channel.impossible_travel_kmh,
    ]
    result = await state.scan_script(keys=keys, args=args)
    first = int(result[0])
    return BareScanOut(
        verdict="genuine" if first == 1 else "already_scanned",
        count=int(result[1]),
        devices=int(result[2]),
    )


# The scan stream of the plain app is capped (approximate trimming keeps XADD O(1)).
PLAIN_STREAM_MAXLEN = 100_000


@post("/v1/plain_scans", status_code=200)
async def plain_scan(
    request: Request[Any, Any, Any], state: State, data: BareScanIn
) -> BareScanOut:
    """GET + INCR + XADD in one pipelined round trip: the plain stack's ceiling."""
    prefix = state.settings.redis.prefix
    serial = data.url.rsplit("/", 1)[-1]
    ip = request.headers.get("x-forwarded-for", "127.0.0.1")
    window = int(time.time() // WINDOW_S)
    pipe = state.redis.pipeline(transaction=False)
    pipe.get(f"{prefix}plain:code:{serial}")
    pipe.incr(f"{prefix}plain:rl:ip:{ip}:{window}")
    pipe.xadd(
        f"{prefix}plain:scans",
        {"code": serial, "device": data.device_id},
        maxlen=PLAIN_STREAM_MAXLEN,
        approximate=True,
    )
    seen, count, _ = await pipe.execute()
    return BareScanOut(
        verdict="genuine" if seen is None else "already_scanned", count=int(count), devices=1
    )


def create_bare_app() -> Litestar:
    """App factory for uvicorn ``--factory``."""
    settings = Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        redis = create_redis(settings)
        app.state.update(
            settings=settings, redis=redis, scan_script=redis.register_script(SCAN_SCRIPT)
        )
        try:
            yield
        finally:
            await redis.aclose()

    return Litestar(route_handlers=[hello, bare_scan, plain_scan], lifespan=[lifespan], debug=False)
