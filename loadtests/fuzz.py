"""Schemathesis over the whole OpenAPI document (issue 12 §1 and §5).

:func:`fuzz` generates cases for every operation (positive and negative, schemathesis'
strategies driven by Hypothesis), sends them with the caller's token through an httpx client
(in-process ASGI in the test, a real server for ``make fuzz``) and checks every answer:
no 5xx, a documented status code, a documented content type and a body fitting its schema.

``make fuzz`` (``python -m loadtests.fuzz``) runs the campaign at a larger budget than
``tests/fuzz/test_schemathesis.py``, for a brand admin and a distributor, on the embedded
backend and on PostgreSQL + Redis, and prints per run: operations, requests, 5xx and schema
violations (with the first few of each).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

__all__ = ["FuzzReport", "fuzz"]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Operations that end the caller's own session (fuzzing them would log the token out) or
# that call WeChat's servers (a 502 when they cannot be reached; never fuzzed outward).
SKIPPED = frozenset(
    {"POST /v1/admin/auth/logout", "POST /v1/distributor/auth/logout", "POST /v1/loyalty/wx-login"}
)
REQUEST_TIMEOUT_S = 3.0  # long-lived answers (event streams) are cut here and counted as hung


@dataclass
class FuzzReport:
    """What one campaign did and found."""

    operations: int = 0
    requests: int = 0
    server_errors: int = 0
    violations: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    hung: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)

    def line(self, name: str) -> str:
        return (
            f"{name}: {self.operations} operations, {self.requests} requests, "
            f"{self.server_errors} 5xx, {self.violations} schema violations, "
            f"{len(self.hung)} cut after {REQUEST_TIMEOUT_S:g} s (streams): {sorted(self.hung)}"
        )


def _cases(strategy: Any, count: int, seed: int) -> list[Any]:
    drawn: list[Any] = []

    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        derandomize=False,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def draw(data: st.DataObject) -> None:
        drawn.append(data.draw(strategy))

    draw._hypothesis_internal_use_seed = seed  # type: ignore[attr-defined]
    # A strategy that cannot generate (unsatisfiable) yields what it drew.
    with contextlib.suppress(Exception):
        draw()
    return drawn


def _request_of(case: Any, headers: dict[str, str]) -> dict[str, Any]:
    kwargs = case.as_transport_kwargs(base_url="http://fuzz.local", headers=headers)
    out: dict[str, Any] = {
        "method": kwargs["method"],
        "url": kwargs["url"].removeprefix("http://fuzz.local"),
        "headers": kwargs.get("headers") or {},
        "params": kwargs.get("params"),
        "cookies": kwargs.get("cookies"),
    }
    if "json" in kwargs:
        out["content"] = json.dumps(kwargs["json"]).encode()
        out["headers"] = {"Content-Type": "application/json", **out["headers"]}
    elif isinstance(kwargs.get("data"), str | bytes):
        out["content"] = kwargs["data"]
    elif kwargs.get("data") is not None:
        out["data"] = kwargs["data"]
    return out


async def fuzz(
    client: httpx.AsyncClient,
    schema_doc: dict[str, Any],
    headers: dict[str, str],
    *,
    seconds: float,
    examples: int,
    seed: int = 0,
    keep: Callable[[str], bool] = lambda _: True,
) -> FuzzReport:
    """Fuzz every operation of ``schema_doc`` through ``client`` for about ``seconds``."""
    schema = schemathesis.openapi.from_dict(schema_doc)
    operations = [r.ok() for r in schema.get_all_operations()]  # type: ignore[union-attr]
    operations = [o for o in operations if o.label not in SKIPPED and keep(o.label)]
    report = FuzzReport(operations=len(operations))
    deadline = time.monotonic() + seconds
    cookies = client.cookies
    for index, operation in enumerate(operations):
        # Each operation gets an equal share of what is left of the time.
        share = (deadline - time.monotonic()) / (len(operations) - index)
        stop = time.monotonic() + max(share, 0.0)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            cases = _cases(operation.as_strategy(generation_mode=mode), examples, seed + index)
            for number, case in enumerate(cases):
                if number and time.monotonic() > stop:
                    break  # one case per operation and mode at least, then the time share
                request = _request_of(case, headers)
                client.cookies = httpx.Cookies(cookies)
                client.cookies.update(request.pop("cookies") or {})
                if operation.label in report.hung:
                    break
                try:
                    response = await asyncio.wait_for(client.request(**request), REQUEST_TIMEOUT_S)
                except TimeoutError:
                    report.hung.add(operation.label)
                    break
                except httpx.HTTPError as exc:
                    report.server_errors += 1
                    report.failures.append(f"{operation.label}: transport error {exc!r}")
                    continue
                report.requests += 1
                report.statuses[response.status_code] += 1
                if response.status_code >= 500:
                    report.server_errors += 1
                try:
                    case.validate_response(response, checks=CHECKS)
                except BaseException as exc:  # schemathesis' FailureGroup is a BaseExceptionGroup
                    if not isinstance(exc, Exception | BaseExceptionGroup):
                        raise
                    if response.status_code < 500:
                        report.violations += 1
                    if len(report.failures) < 50:
                        first = str(exc).strip().splitlines()
                        report.failures.append(
                            f"{operation.label} -> {response.status_code}: "
                            f"{' | '.join(first[:6])[:600]} ; request {request['method']} "
                            f"{request['url']} params={request['params']!r} "
                            f"body={request.get('content', b'')[:200]!r}"
                        )
    return report


# ---------------------------------------------------------------------------------------
# make fuzz: the test's campaign (same harness, both backends, both tokens), larger budget.


def main() -> None:
    parser = argparse.ArgumentParser(description="schemathesis campaign over the OpenAPI document")
    parser.add_argument("--seconds", type=float, default=60.0, help="per token and backend")
    parser.add_argument("--examples", type=int, default=50, help="cases per operation and mode")
    args = parser.parse_args()
    env = {
        **os.environ,
        "SCANGUARD_FUZZ_SECONDS": str(args.seconds),
        "SCANGUARD_FUZZ_EXAMPLES": str(args.examples),
    }
    command = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider"]
    command += ["-n", "0", "tests/fuzz/test_schemathesis.py"]
    raise SystemExit(subprocess.call(command, env=env))


if __name__ == "__main__":
    main()
