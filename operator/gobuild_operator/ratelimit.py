"""A token bucket: at most `rate` takes a second on average, bursts of up to `depth`.

Used where something a caller controls would otherwise set the pace of the operator's own calls:
the proxy probes (reporting/checker.py waits for a token) and the metrics endpoint's TokenReviews
(serving/metrics_server.py refuses without one).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class TokenBucket:
    def __init__(self, *, rate: float, depth: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate, self._depth, self._clock = rate, depth, clock
        self._tokens, self._at = depth, clock()

    def try_take(self) -> bool:
        """Take a token if there is one."""
        now = self._clock()
        self._tokens = min(self._depth, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    async def take(self) -> None:
        """Wait for a token and take it."""
        while True:
            if self.try_take():
                return
            await asyncio.sleep((1 - self._tokens) / self._rate)
