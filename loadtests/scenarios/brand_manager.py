"""Brand managers in the admin console: log in once, then browse and look up codes."""

from __future__ import annotations

import random
from typing import Any

from locust import FastHttpUser, between, task

from loadtests.scenarios.common import ValidationError, check_admin_code, data_set

__all__ = ["BrandManager"]


class BrandManager(FastHttpUser):
    """An admin user of the seeded brand (a logged-in console session)."""

    weight = 1
    wait_time = between(3, 10)  # people read the screen between clicks

    def on_start(self) -> None:
        self.rng = random.Random()
        admin = data_set().admin
        with self.client.post(
            "/v1/admin/auth/login",
            json={"username": admin["username"], "password": admin["password"]},
            name="admin login",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"login: HTTP {response.status_code}")
                self.headers: dict[str, str] = {}
                return
            token = response.json()["access_token"]
        self.headers = {"Authorization": f"Bearer {token}"}

    def _get(self, path: str, name: str) -> Any:
        with self.client.get(
            path, headers=self.headers, name=name, catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
                return None
            return response.json()

    @task(3)
    def list_products(self) -> None:
        body = self._get("/v1/admin/products?limit=20", "admin products")
        if body is not None and not body.get("items"):
            self._fail("admin products", "no products listed for the seeded brand")

    @task(2)
    def list_rolls(self) -> None:
        self._get("/v1/admin/rolls?limit=20", "admin rolls")

    @task(4)
    def lookup_code(self) -> None:
        data = data_set()
        code_class = self.rng.choice(("repeat", "inactive", "void"))
        gtin, code = data.pick(code_class)
        with self.client.get(
            f"/v1/admin/codes/{gtin}/{code}",
            headers=self.headers,
            name="admin code lookup",
            catch_response=True,
        ) as response:
            try:
                status = check_admin_code(
                    response.status_code, response.json(), gtin=gtin, code=code
                )
                want = {"repeat": "active", "inactive": "inactive", "void": "void"}[code_class]
                if status != want:
                    raise ValidationError(f"{code_class} code has status {status!r}")
            except (ValidationError, ValueError) as exc:
                response.failure(str(exc))

    @task(3)
    def scan_history(self) -> None:
        gtin, code = data_set().pick("repeat")
        body = self._get(f"/v1/admin/codes/{gtin}/{code}/scans", "admin code scans")
        if body is not None and not isinstance(body, dict):
            self._fail("admin code scans", "scan history is not an object")

    @task(1)
    def counterfeit_attempts(self) -> None:
        self._get("/v1/admin/counterfeit-attempts?limit=20", "admin counterfeit attempts")

    def _fail(self, name: str, message: str) -> None:
        self.environment.events.request.fire(
            request_type="CHECK",
            name=name,
            response_time=0,
            response_length=0,
            exception=ValidationError(message),
        )
