"""What every scenario shares: the seeded data set, response validators, client headers.

The data file is written by ``python -m loadtests.seed`` (``SCANGUARD_LOADTEST_DATA``,
default ``loadtests/data.json``). Fresh codes are handed out once each; the repeat codes
are scanned once by ``prepare_repeats`` before the users start.
"""

from __future__ import annotations

import json
import os
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtests.regions import random_client_ip

__all__ = [
    "EXPECTED_VERDICTS",
    "DataSet",
    "ValidationError",
    "check_admin_code",
    "check_distributor_check",
    "check_scan_html",
    "check_scan_json",
    "client_headers",
    "data_set",
    "expected_verdicts",
]

DATA_ENV = "SCANGUARD_LOADTEST_DATA"
DEFAULT_DATA = Path(__file__).resolve().parent.parent / "data.json"

# The verdict a scan must get for each code class (a repeat turns suspicious once more
# distinct devices than the brand's threshold scanned it).
EXPECTED_VERDICTS: dict[str, frozenset[str]] = {
    "fresh": frozenset({"genuine"}),
    "repeat": frozenset({"already_scanned", "suspicious"}),
    "forged": frozenset({"counterfeit"}),
    "inactive": frozenset({"inactive"}),
    "void": frozenset({"void"}),
}


class ValidationError(AssertionError):
    """A response that has the right status but the wrong content."""


def expected_verdicts(code_class: str) -> frozenset[str]:
    return EXPECTED_VERDICTS[code_class]


def check_scan_json(code_class: str, status: int, body: Any) -> str:
    """Validate a JSON scan answer for a code of ``code_class``; return the verdict."""
    if status != 200:
        raise ValidationError(f"HTTP {status}")
    if not isinstance(body, dict) or "verdict" not in body:
        raise ValidationError("no verdict in the answer")
    verdict = str(body["verdict"])
    if verdict not in EXPECTED_VERDICTS[code_class]:
        raise ValidationError(f"{code_class} code answered {verdict!r}")
    if verdict == "genuine" and not body.get("product"):
        raise ValidationError("genuine answer without product facts")
    if verdict in ("already_scanned", "suspicious") and not body.get("scans"):
        raise ValidationError("repeat answer without scan history")
    return verdict


def check_scan_html(code_class: str, status: int, text: str) -> str:
    """Validate an HTML scan page for a code of ``code_class``; return the verdict shown."""
    if status != 200:
        raise ValidationError(f"HTTP {status}")
    for verdict in EXPECTED_VERDICTS[code_class]:
        if f'class="banner {verdict}"' in text:  # the verdict banner of scan.html.j2
            return verdict
    raise ValidationError(
        f"{code_class} page shows none of {sorted(EXPECTED_VERDICTS[code_class])}"
    )


def check_admin_code(status: int, body: Any, *, gtin: str, code: str) -> str:
    """Validate ``GET /v1/admin/codes/{gtin}/{code}``; return the code's status."""
    if status != 200:
        raise ValidationError(f"HTTP {status}")
    if not isinstance(body, dict) or body.get("gtin") != gtin or body.get("code") != code:
        raise ValidationError("lookup answered for another code")
    state = str(body.get("status"))
    if state not in ("active", "inactive", "void"):
        raise ValidationError(f"unknown code status {state!r}")
    return state


def check_distributor_check(status: int, body: Any, *, genuine: bool, mine: bool) -> None:
    """Validate ``POST /v1/distributor/checks`` for a code expected ``genuine`` and, if so,
    shipped to the caller (``mine``) or to another distributor (whose identity must not show)."""
    if status != 200:
        raise ValidationError(f"HTTP {status}")
    if not isinstance(body, dict) or body.get("genuine") is not genuine:
        raise ValidationError(f"genuine is {body.get('genuine')!r}, expected {genuine}")
    if not genuine:
        return
    expected = "you" if mine else "another_distributor"
    if body.get("destination") != expected or body.get("shipped_to_you") is not mine:
        raise ValidationError(f"destination {body.get('destination')!r}, expected {expected!r}")
    if not mine and any(k in body for k in ("distributor", "distributor_id", "distributor_name")):
        raise ValidationError("the check reveals another distributor")


def client_headers(rng: random.Random | None = None) -> dict[str, str]:
    """A client address from a region, as a trusted proxy would forward it."""
    return {"X-Forwarded-For": random_client_ip(rng)}


@dataclass(slots=True)
class DataSet:
    """The seeded codes by class; fresh codes are popped so each is scanned once."""

    raw: dict[str, Any]
    _fresh: list[Sequence[str]]
    _lock: threading.Lock
    _scanned: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> DataSet:
        raw = json.loads(path.read_text(encoding="utf-8"))
        fresh = list(raw["codes"]["fresh"])
        random.shuffle(fresh)
        return cls(raw, fresh, threading.Lock())

    @property
    def admin(self) -> dict[str, str]:
        admin: dict[str, str] = self.raw["admin"]
        return admin

    @property
    def products(self) -> list[dict[str, str]]:
        products: list[dict[str, str]] = self.raw["products"]
        return products

    @property
    def distributors(self) -> list[dict[str, Any]]:
        distributors: list[dict[str, Any]] = self.raw.get("distributors", [])
        return distributors

    def pairs(self, code_class: str) -> list[list[str]]:
        pairs: list[list[str]] = self.raw["codes"][code_class]
        return pairs

    def take_fresh(self) -> tuple[str, str] | None:
        """A never-scanned code, or None when they are used up."""
        with self._lock:
            if not self._fresh:
                return None
            gtin, code = self._fresh.pop()
        return gtin, code

    def remember_scanned(self, gtin: str, code: str) -> None:
        """A fresh code that got its genuine first scan: from now on a repeat."""
        with self._lock:
            self._scanned.append((gtin, code))

    def pick_repeat(self) -> tuple[str, str] | None:
        """A code this run saw scanned already (None before any first scan)."""
        with self._lock:
            return random.choice(self._scanned) if self._scanned else None

    def pick(self, code_class: str) -> tuple[str, str]:
        gtin, code = random.choice(self.pairs(code_class))
        return gtin, code


_data: DataSet | None = None


def data_set() -> DataSet:
    """The data set of this process (loaded once)."""
    global _data
    if _data is None:
        _data = DataSet.load(Path(os.environ.get(DATA_ENV, str(DEFAULT_DATA))))
    return _data
