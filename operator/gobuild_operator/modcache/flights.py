"""Singleflight: concurrent misses for one file start one upstream fetch, and every waiter gets it.

Twenty builds starting at once ask for the same zips at the same moment; without this the cache
would fetch each zip twenty times. The fetch runs as a task of its own, so a client that gives up
cancels only its wait, never the download the others are waiting for. A result that is not kept in
the store (served once, then deleted) is released by `cleanup` when its last waiter is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class _Flight(Generic[T]):
    task: asyncio.Task[T]
    waiters: int = 0
    released: bool = field(default=False)


class Flights(Generic[T]):
    def __init__(self, *, cleanup: Callable[[T], None]) -> None:
        self._cleanup = cleanup
        self._flights: dict[Hashable, _Flight[T]] = {}

    def __len__(self) -> int:
        return len(self._flights)

    @contextlib.asynccontextmanager
    async def join(self, key: Hashable, start: Callable[[], Awaitable[T]]) -> AsyncIterator[tuple[T, bool]]:
        """The fetch's result, and whether this caller joined a fetch someone else started."""
        flight = self._flights.get(key)
        joined = flight is not None
        if flight is None:
            flight = _Flight(asyncio.ensure_future(start()))
            self._flights[key] = flight
            flight.task.add_done_callback(functools.partial(self._landed, key, flight))
        flight.waiters += 1
        try:
            result = await asyncio.shield(flight.task)
            yield result, joined
        finally:
            flight.waiters -= 1
            self._release(flight)

    def _landed(self, key: Hashable, flight: _Flight[T], _task: object) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        self._release(flight)

    def _release(self, flight: _Flight[T]) -> None:
        if flight.released or flight.waiters or not flight.task.done():
            return
        flight.released = True
        if not flight.task.cancelled() and flight.task.exception() is None:
            self._cleanup(flight.task.result())
