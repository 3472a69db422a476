"""Load shapes, chosen with ``SCANGUARD_LOADTEST_SHAPE`` = smoke | average | spike.

Users are locust users (a consumer scans every 1-5 s, about one scan per 3 s), so 100 users
make about 33 scans/s. The average shape sits near the research note's average brand (13
scans/s for 1 billion units a year at a 40% scan rate) with headroom; the spike jumps to 20×
for a minute, the start of a midnight campaign (the note expects up to 100×; scale with
``SCANGUARD_LOADTEST_SCALE``).
"""

from __future__ import annotations

import os

from locust import LoadTestShape

__all__ = ["SHAPES", "AverageShape", "SmokeShape", "SpikeShape", "selected_shape"]

SHAPE_ENV = "SCANGUARD_LOADTEST_SHAPE"
SCALE_ENV = "SCANGUARD_LOADTEST_SCALE"

Stage = tuple[int, int, float]  # (ends at second, users, spawn rate per second)


def _scale() -> float:
    return float(os.environ.get(SCALE_ENV, "1") or 1)


class _Staged(LoadTestShape):
    abstract = True
    stages: tuple[Stage, ...] = ()

    def tick(self) -> tuple[int, float] | None:
        now = self.get_run_time()  # type: ignore[no-untyped-call]  # locust is untyped
        scale = _scale()
        for ends_at, users, rate in self.stages:
            if now < ends_at:
                return max(1, round(users * scale)), max(1.0, rate * scale)
        return None


class SmokeShape(_Staged):
    """A minute with a handful of users: does every scenario work at all?"""

    abstract = False
    stages = ((60, 5, 5),)


class AverageShape(_Staged):
    """Ramp to an average day (about 40 users, 13 scans/s), hold ten minutes."""

    abstract = False
    stages = ((60, 40, 1), (660, 40, 1))


class SpikeShape(_Staged):
    """Average, then a campaign burst (20×) for a minute, then back."""

    abstract = False
    stages = ((60, 40, 2), (120, 40, 2), (180, 800, 100), (300, 40, 50))


SHAPES: dict[str, type[LoadTestShape]] = {
    "smoke": SmokeShape,
    "average": AverageShape,
    "spike": SpikeShape,
}


def selected_shape() -> type[LoadTestShape] | None:
    """The shape named by ``SCANGUARD_LOADTEST_SHAPE`` (None: locust's -u/-r decide)."""
    name = os.environ.get(SHAPE_ENV, "").strip().lower()
    if not name:
        return None
    if name not in SHAPES:
        raise SystemExit(f"{SHAPE_ENV}={name!r}: use one of {', '.join(SHAPES)}")
    return SHAPES[name]
