"""Consumers scanning a pack: the mini-program (JSON API) and the phone browser (HTML page).

The class mix follows what a gateway sees during a campaign: most scans are first scans of
genuine packs, some are second looks (a shopper and then a family member, or a shop
assistant), a few are forged codes, and a trickle hit codes not yet released or withdrawn.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

from locust import FastHttpUser, between, task

from loadtests.scenarios.common import (
    ValidationError,
    check_scan_html,
    check_scan_json,
    client_headers,
    data_set,
)

__all__ = ["MiniProgramConsumer", "WebConsumer"]

# Share of each code class among consumer scans (per cent).
CLASS_MIX: tuple[tuple[str, int], ...] = (
    ("fresh", 80),
    ("repeat", 12),
    ("forged", 5),
    ("inactive", 2),
    ("void", 1),
)
_CLASSES = [name for name, _ in CLASS_MIX]
_WEIGHTS = [weight for _, weight in CLASS_MIX]


def pick_code(rng: random.Random) -> tuple[str, str, str]:
    """(code class, gtin, code) drawn by ``CLASS_MIX``; fresh falls back to repeat when used up."""
    data = data_set()
    (code_class,) = rng.choices(_CLASSES, weights=_WEIGHTS)
    if code_class == "repeat":
        # Codes this run scanned first (the seeded repeat codes need prepare_repeats).
        seen = data.pick_repeat()
        if seen is not None:
            return "repeat", *seen
        code_class = "fresh"
    if code_class == "fresh":
        fresh = data.take_fresh()
        if fresh is not None:
            return "fresh", *fresh
        code_class = "repeat"
    gtin, code = data.pick(code_class)
    return code_class, gtin, code


def remember(code_class: str, verdict: str, gtin: str, code: str) -> None:
    if code_class == "fresh" and verdict == "genuine":
        data_set().remember_scanned(gtin, code)


class MiniProgramConsumer(FastHttpUser):
    """The WeChat mini-program: ``POST /v1/scans`` with the install's device id."""

    weight = 70
    wait_time = between(1, 5)

    def on_start(self) -> None:
        self.rng = random.Random()
        self.device_id = f"mp-{uuid.uuid4().hex}"
        self.headers = client_headers(self.rng)  # one phone, one address for a while

    @task
    def scan(self) -> None:
        code_class, gtin, code = pick_code(self.rng)
        body: dict[str, Any] = {
            "url": f"https://id.example.com/01/{gtin}/21/{code}",
            "device_id": self.device_id,
        }
        with self.client.post(
            "/v1/scans",
            json=body,
            headers=self.headers,
            name=f"scan json [{code_class}]",
            catch_response=True,
        ) as response:
            try:
                verdict = check_scan_json(code_class, response.status_code, response.json())
                remember(code_class, verdict, gtin, code)
            except (ValidationError, ValueError) as exc:
                response.failure(str(exc))


class WebConsumer(FastHttpUser):
    """A phone's camera app opening the printed URL: ``GET /01/{gtin}/21/{code}`` as HTML."""

    weight = 30
    wait_time = between(1, 5)

    def on_start(self) -> None:
        self.rng = random.Random()
        self.headers = {
            **client_headers(self.rng),
            "Accept": "text/html,application/xhtml+xml,*/*;q=0.8",
        }

    @task
    def scan(self) -> None:
        code_class, gtin, code = pick_code(self.rng)
        with self.client.get(
            f"/01/{gtin}/21/{code}",
            headers=self.headers,
            name=f"scan html [{code_class}]",
            catch_response=True,
        ) as response:
            try:
                verdict = check_scan_html(code_class, response.status_code, response.text or "")
                remember(code_class, verdict, gtin, code)
            except ValidationError as exc:
                response.failure(str(exc))
