"""An in-process fixed-window counter: the rate limits' fallback while Redis is down.

Redis counts for every process at once; this counts for one. With N server processes each
enforces ``ceil(limit / N)`` (``share_of``), so the total stays near the configured limit when
a load balancer spreads a client's requests, and a client pinned to one process gets at
least its share. Windows are aligned to the clock like the Redis windows, so a client sees
the same ``Retry-After`` in both modes.
"""

from __future__ import annotations

import math
import time

__all__ = ["LocalWindowLimiter", "share_of"]


def share_of(limit: int, processes: int) -> int:
    """One process's part of a limit shared by ``processes`` (at least 1)."""
    return max(1, math.ceil(limit / max(1, processes)))


class LocalWindowLimiter:
    """Counts hits per key in ``window_s`` windows; forgets a window once it has passed."""

    def __init__(self, window_s: int) -> None:
        self.window_s = window_s
        self._window = -1
        self._counts: dict[str, int] = {}

    def hit(self, key: str, limit: int, now: float | None = None) -> int | None:
        """Count one hit; the seconds until the window ends when this hit is over ``limit``,
        else None."""
        now = time.time() if now is None else now
        window = int(now // self.window_s)
        if window != self._window:
            self._window = window
            self._counts.clear()  # only the current window matters: memory stays bounded
        count = self._counts.get(key, 0) + 1
        self._counts[key] = count
        if count > limit:
            return max(1, math.ceil((window + 1) * self.window_s - now))
        return None
