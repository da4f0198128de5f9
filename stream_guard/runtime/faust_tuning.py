"""Faust settings that Faust does not expose, applied to the consumer it builds.

Faust creates its aiokafka consumer with `fetch_max_wait_ms=1500` fixed. Apache Kafka answers a
waiting fetch as soon as data arrives, but some Kafka-protocol brokers (Tansu among them) hold it
for the full wait, which then delays every event, and so every alert, by up to 1.5 s (measured:
381 ms on average for a record produced during an idle fetch at 1500 ms, 12 ms at 100 ms). The
wait is made a topology setting (`kafka.fetch_max_wait`), read per app.

Faust also waits up to 60 s for its consumer thread to stop; with the broker gone that thread dies
in its own shutdown and the wait runs out in full. The wait is bounded to `CONSUMER_STOP_S`, after
which the worker stops without it, in one log line.
"""

from __future__ import annotations

import logging
from typing import Any

import faust

from stream_guard.runtime.faust_internals import set_fetch_max_wait as set_consumer_fetch_wait
from stream_guard.runtime.faust_internals import set_stop_timeout, wrap_consumer_factory

_ATTRIBUTE = "stream_guard_fetch_max_wait_ms"
CONSUMER_STOP_S = 5.0
log = logging.getLogger("stream_guard.worker")


def set_fetch_max_wait(app: faust.App, milliseconds: int) -> None:
    """Make the consumer `app` creates wait at most `milliseconds` for a fetch to fill."""
    setattr(app, _ATTRIBUTE, milliseconds)
    wrap_consumer_factory(_tune)


def _tune(thread: Any, consumer: Any) -> None:
    wait = getattr(thread.app, _ATTRIBUTE, None)
    if wait is not None:
        set_consumer_fetch_wait(consumer, wait)
    _bound_stop(thread)


def _bound_stop(thread: Any) -> None:
    """Make the consumer thread's stop give up after `CONSUMER_STOP_S` with one line, not a traceback."""
    set_stop_timeout(thread, CONSUMER_STOP_S)
    stop = thread.stop

    async def bounded_stop() -> None:
        try:
            await stop()
        except TimeoutError:
            log.warning(f"the Kafka consumer did not stop within {CONSUMER_STOP_S:g}s (is the broker "
                        f"unreachable?); stopping without it")

    thread.stop = bounded_stop
