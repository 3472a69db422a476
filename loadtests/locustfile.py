"""Locust entry point: scan gateway load test with the realistic traffic mix.

    python -m loadtests.seed --out loadtests/data.json        # once, against the target's DB
    python -m loadtests.regions var/regions.mmdb              # server: SCANGUARD_GEOIP_DATABASE
    SCANGUARD_LOADTEST_SHAPE=smoke locust -f loadtests/locustfile.py --headless \\
        --host http://127.0.0.1:8000

User classes and weights (per 103 users): consumers 100 (mini-program 70, web 30),
distributors 2 (authenticity checks of received and foreign codes, shipments received),
brand managers 1.
Why: a brand at 1 billion units a year and a 40% scan rate gets about 13 consumer scans/s on
average (DOMAIN-RESEARCH.md §3, §6.4), while its console users and receiving warehouses are
people clicking every few seconds: a few requests a minute each. Consumer scans dominate.

Thresholds (headless runs exit 1 when exceeded): ``SCANGUARD_LOADTEST_MAX_FAIL_RATIO``
(default 0.01) and ``SCANGUARD_LOADTEST_MAX_P95_MS`` (default 100, the gateway p95 goal of
DOMAIN-RESEARCH.md §6.3). The load shape comes from ``SCANGUARD_LOADTEST_SHAPE``.
"""

from __future__ import annotations

import os
from typing import Any

from locust import events

from loadtests.scenarios import shapes
from loadtests.scenarios.brand_manager import BrandManager
from loadtests.scenarios.common import data_set
from loadtests.scenarios.consumer import MiniProgramConsumer, WebConsumer
from loadtests.scenarios.distributor import Distributor
from loadtests.scenarios.prepare import prepare_repeats

__all__ = ["BrandManager", "Distributor", "MiniProgramConsumer", "WebConsumer"]

MAX_FAIL_RATIO = float(os.environ.get("SCANGUARD_LOADTEST_MAX_FAIL_RATIO", "0.01") or 0.01)
MAX_P95_MS = float(os.environ.get("SCANGUARD_LOADTEST_MAX_P95_MS", "100") or 100)

_shape = shapes.selected_shape()
if _shape is not None:
    SelectedShape = _shape  # locust picks up the one LoadTestShape class in this module


@events.test_start.add_listener  # type: ignore[untyped-decorator]  # locust is untyped
def _prepare(environment: Any, **_: Any) -> None:
    """Scan every repeat code once, so that scans of them during the run are repeats."""
    if environment.host:
        prepare_repeats(environment.host, data_set())


@events.quitting.add_listener  # type: ignore[untyped-decorator]  # locust is untyped
def _check_thresholds(environment: Any, **_: Any) -> None:
    """Fail the run (exit code 1) past the failure-ratio or p95 thresholds."""
    total = environment.stats.total
    p95 = total.get_response_time_percentile(0.95) or 0
    problems = []
    if total.fail_ratio > MAX_FAIL_RATIO:
        problems.append(f"failure ratio {total.fail_ratio:.2%} > {MAX_FAIL_RATIO:.2%}")
    if p95 > MAX_P95_MS:
        problems.append(f"p95 {p95:.0f} ms > {MAX_P95_MS:.0f} ms")
    if problems:
        print("load test thresholds exceeded: " + "; ".join(problems), flush=True)
        environment.process_exit_code = 1
