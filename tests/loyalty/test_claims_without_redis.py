"""Claim limits with Redis really unavailable from the start (issue 12 §3): the wrong-PIN
limit is decided by the stored failures, and a right PIN still claims."""

from __future__ import annotations

from anticounterfeit.codes.format import Keyring, derive_pin
from kernel.settings import Settings
from tests.conftest import running_app
from tests.factories.loyalty import claim, consumer, scan, setup_loyalty
from tests.support.redis_server import closed_port_redis_url


async def test_wrong_pin_limit_holds_while_redis_is_down(settings: Settings) -> None:
    down = settings.with_overrides(
        redis={"url": closed_port_redis_url(), "timeout_s": 0.2},
        loyalty={"pin_failures_per_consumer": 2, "pin_failures_per_code": 10},
    )
    async with running_app(down) as (app, client):
        setup = await setup_loyalty(app, client, pin_length=6)
        keyring: Keyring = app.state.keyring
        key = keyring.get(setup.roll.kid)
        assert key is not None
        right = derive_pin(key, setup.roll.first_index, 6)
        wrong = "000000" if right != "000000" else "111111"
        url = setup.url(0)
        assert (await scan(client, url, "phone-a"))["verdict"] == "genuine"
        guesser = await consumer(app)
        for _ in range(2):
            bad = await claim(client, guesser, url, "phone-a", pin=wrong)
            assert (bad.status_code, bad.json()["code"]) == (422, "wrong_pin")
        blocked = await claim(client, guesser, url, "phone-a", pin=right)
        assert (blocked.status_code, blocked.json()["code"]) == (429, "pin_attempts_exceeded")
        assert int(blocked.headers["Retry-After"]) > 0
        owner = await consumer(app)
        ok = await claim(client, owner, url, "phone-a", pin=right)
        assert ok.status_code == 201, ok.text
        assert (await client.get("/health")).json()["rate_limits"] == "in_process"
