"""Distributors checking goods on receipt.

PENDING CHANNEL CONTROL: the distributor API (authenticity checks with a distributor token,
shipments, receipts) does not exist yet; it comes with the channel-control issue. Until then
this scenario does the closest existing check, the brand's code lookup
(``GET /v1/admin/codes/{gtin}/{code}``) with the seeded brand admin's token, at the rate
distributors would check. When channel control lands: log in as a distributor, check codes
through the distributor endpoint, and post shipments/receipts (seeded shipments to
distributors in several regions, see ``loadtests/seed.py``).
"""

from __future__ import annotations

import random

from locust import FastHttpUser, between, task

from loadtests.scenarios.common import ValidationError, check_admin_code, data_set

__all__ = ["Distributor"]

PENDING_CHANNEL_CONTROL = True  # switch to the distributor API when it exists


class Distributor(FastHttpUser):
    """A warehouse clerk scanning cartons on receipt (spot checks of unit codes)."""

    weight = 2
    wait_time = between(2, 6)

    def on_start(self) -> None:
        self.rng = random.Random()
        admin = data_set().admin  # stand-in credentials until distributor accounts exist
        response = self.client.post(
            "/v1/admin/auth/login",
            json={"username": admin["username"], "password": admin["password"]},
            name="distributor login (admin stand-in)",
        )
        token = response.json()["access_token"] if response.status_code == 200 else ""
        self.headers = {"Authorization": f"Bearer {token}"}

    @task
    def check_code(self) -> None:
        (pool,) = self.rng.choices(("repeat", "void"), weights=(9, 1))
        gtin, code = data_set().pick(pool)
        with self.client.get(
            f"/v1/admin/codes/{gtin}/{code}",
            headers=self.headers,
            name="distributor check (admin code lookup)",
            catch_response=True,
        ) as response:
            try:
                status = check_admin_code(
                    response.status_code, response.json(), gtin=gtin, code=code
                )
                if status != ("void" if pool == "void" else "active"):
                    raise ValidationError(f"{pool} code has status {status!r}")
            except (ValidationError, ValueError) as exc:
                response.failure(str(exc))
