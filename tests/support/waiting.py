"""Wait for something to happen instead of sleeping for a guessed time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

#: Generous by default: a loaded machine (parallel workers) is slow, a passing wait is not.
DEFAULT_TIMEOUT_S = 30.0


async def wait_until(
    predicate: Callable[[], bool | Awaitable[bool]],
    timeout: float = DEFAULT_TIMEOUT_S,  # noqa: ASYNC109 - a deadline for polling, by design
    *,
    interval: float = 0.01,
    message: str = "condition",
) -> None:
    """Poll ``predicate`` (sync or async) until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        await asyncio.sleep(interval)
