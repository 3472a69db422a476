"""Distributors receiving goods: they check codes on arrival and confirm their shipments.

Each simulated clerk logs in as one of the seeded distributors (``loadtests/seed.py``: one per
region, each sent the rolls of some products) and, in the proportions below:

- checks a unit code of a product shipped to them (``destination`` must be ``you``), of a
  product shipped to another distributor (``another_distributor``, nothing more told), or a
  forged code (not genuine) — ``POST /v1/distributor/checks``; never a consumer scan;
- lists their shipments and confirms one as received (idempotent) —
  ``GET /v1/distributor/shipments``, ``POST /v1/distributor/shipments/{id}/receive``.
"""

from __future__ import annotations

import random
from typing import Any

from locust import FastHttpUser, between, task

from loadtests.scenarios.common import ValidationError, check_distributor_check, data_set

__all__ = ["Distributor"]


class Distributor(FastHttpUser):
    """A warehouse clerk with a handheld scanner."""

    weight = 2
    wait_time = between(2, 6)

    def on_start(self) -> None:
        self.rng = random.Random()
        distributors = data_set().distributors
        if not distributors:
            raise RuntimeError("the data set has no distributors: re-seed (loadtests.seed)")
        self.me: dict[str, Any] = self.rng.choice(distributors)
        self.mine = set(self.me["gtins"])
        self.others = {g for d in distributors if d is not self.me for g in d["gtins"]}
        response = self.client.post(
            "/v1/distributor/auth/login",
            json={"username": self.me["username"], "password": self.me["password"]},
            name="distributor login",
        )
        token = response.json().get("access_token", "") if response.status_code == 200 else ""
        self.headers = {"Authorization": f"Bearer {token}"}

    def _code_of(self, gtins: set[str]) -> tuple[str, str] | None:
        candidates = [p for p in data_set().pairs("repeat") if p[0] in gtins]
        if not candidates:
            return None
        gtin, code = self.rng.choice(candidates)
        return gtin, code

    @task(6)
    def check_received_code(self) -> None:
        self._check(self._code_of(self.mine), genuine=True, mine=True, name="check: mine")

    @task(2)
    def check_foreign_code(self) -> None:
        self._check(self._code_of(self.others), genuine=True, mine=False, name="check: other's")

    @task(1)
    def check_forged_code(self) -> None:
        gtin, code = data_set().pick("forged")
        self._check((gtin, code), genuine=False, mine=False, name="check: forged")

    def _check(self, pair: tuple[str, str] | None, *, genuine: bool, mine: bool, name: str) -> None:
        if pair is None:
            return
        gtin, code = pair
        with self.client.post(
            "/v1/distributor/checks",
            json={"code": f"/01/{gtin}/21/{code}"},
            headers=self.headers,
            name=name,
            catch_response=True,
        ) as response:
            try:
                check_distributor_check(
                    response.status_code, response.json(), genuine=genuine, mine=mine
                )
            except (ValidationError, ValueError) as exc:
                response.failure(str(exc))

    @task(1)
    def receive_a_shipment(self) -> None:
        with self.client.get(
            "/v1/distributor/shipments?limit=20",
            headers=self.headers,
            name="shipments: list",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
                return
            items = response.json().get("items", [])
        if not items:
            return
        shipment = self.rng.choice(items)
        with self.client.post(
            f"/v1/distributor/shipments/{shipment['id']}/receive",
            headers=self.headers,
            name="shipments: receive",
            catch_response=True,
        ) as response:
            if response.status_code != 200 or not response.json()["shipment"].get("received_at"):
                response.failure(f"HTTP {response.status_code}: not received")
