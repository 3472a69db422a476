"""Wait for something to happen instead of sleeping for a guessed time."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable


async def wait_until(
    condition: Callable[[], bool | Awaitable[bool]],
    timeout_s: float = 15.0,
    *,
    interval_s: float = 0.02,
    what: str | Callable[[], str] = "condition",
) -> None:
    """Poll ``condition`` (sync or async) until it holds; fail after ``timeout_s``.

    Waits on the thing itself, never a fixed sleep: generous timeouts cost nothing when the
    condition is met early, and keep a loaded machine (parallel workers) from failing tests.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            described = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout_s} s waiting for {described}")
        await asyncio.sleep(interval_s)
