"""Calls to Redis (or the schema registry) retried with backoff while it is unreachable; the worker waits meanwhile."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from stream_guard.core.topology.redaction import redacted
from stream_guard.errors import ServiceUnreachable

log = logging.getLogger("stream_guard.worker")
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)   # seconds between attempts while Redis fails; then every 8 s
T = TypeVar("T")


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


class StandaloneSource:
    """A source with no consumer group (tests, tools): owns what it is given, commits nowhere."""

    def __init__(self, partitions: set[int] | None = None) -> None:
        self.owned = partitions or set()

    def assigned(self) -> set[int]:
        return self.owned

    def owns(self, partition: int) -> bool:
        return True

    def partitions(self) -> int | None:
        return None

    def high_watermark(self, partition: int) -> int | None:
        return None

    async def rewind(self, partition: int) -> None:
        return None

    def unread_end(self, partition: int) -> int | None:
        return None

    def read_from(self, partition: int) -> int | None:
        return None

    async def commit(self, offsets: dict[int, int]) -> None:
        return None


class Retrying:
    """Runs a store call until it succeeds, backing off while the store is unreachable (consuming stops
    meanwhile, since the agent waits here). `errors` counts every failed attempt; `recovered` runs once
    the store answers again after failures."""

    def __init__(self, monitor: str, url: str, recovered: Callable[[], None],
                 delays: tuple[float, ...] = RETRY_DELAYS, service: str = "Redis") -> None:
        self.monitor, self.url, self.recovered, self.delays = monitor, url, recovered, delays
        self.service = service
        self.errors = 0

    async def __call__(self, call: Callable[[], Awaitable[T]]) -> T:
        attempt = 0
        while True:
            try:
                result = await call()
            except ServiceUnreachable as exc:
                self.errors += 1
                delay = self.delays[min(attempt, len(self.delays) - 1)]
                if attempt == 0 or delay == self.delays[-1] and attempt % 4 == 0:
                    log.warning(f"{self.monitor}: {exc}; consuming is paused, retrying every {delay:g}s or so")
                attempt += 1
                await asyncio.sleep(delay)
                continue
            if attempt:
                log.info(f"{self.monitor}: {self.service} at {redacted(self.url)} answers again after {attempt} failed "
                         f"attempts; carrying on")
                self.recovered()
            return result
