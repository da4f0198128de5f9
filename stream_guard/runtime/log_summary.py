"""Repeated client errors, summarised: while the broker is away, aiokafka logs a connection error for
every attempt of every request (about 70 lines a second here). The first line of each kind goes
through; the next ones of that kind are counted, and one line every `period_s` carries the count.

>>> summary = RepeatSummary(period_s=30, clock=lambda: 0.0)
>>> records = [logging.LogRecord("aiokafka", logging.ERROR, "", 0, "Unable connect to node %s", (1,), None)
...            for _ in range(3)]
>>> [summary.filter(r) for r in records]
[True, False, False]
>>> summary.take_suppressed()
2
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

SUMMARY_PERIOD_S = 30.0
SUMMARISED_LOGGERS = ("aiokafka",)


class RepeatSummary(logging.Filter):
    """Lets the first record of each kind (logger and message template) through, then one every
    `period_s` with the count of those held back since."""

    def __init__(self, period_s: float = SUMMARY_PERIOD_S, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.period_s = period_s
        self.clock = clock
        self._shown_at: dict[tuple[str, str], float] = {}
        self._held: dict[tuple[str, str], int] = {}
        self._suppressed = 0
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        kind, now = (record.name, str(record.msg)), self.clock()
        with self._lock:
            shown = self._shown_at.get(kind)
            if shown is not None and now - shown < self.period_s:
                self._held[kind] = self._held.get(kind, 0) + 1
                self._suppressed += 1
                return False
            self._shown_at[kind] = now
            held = self._held.pop(kind, 0)
        if held:
            record.msg = f"{record.getMessage()} [{held:,} more like this in the last {self.period_s:g}s, not shown]"
            record.args = ()
        return True

    def take_suppressed(self) -> int:
        """How many records were held back since the last call."""
        with self._lock:
            suppressed, self._suppressed = self._suppressed, 0
        return suppressed


class KafkaTracebackInOneLine(logging.Filter):
    """A Kafka client error that reaches asyncio's 'exception was never retrieved' handler (a commit in
    flight when the broker went away) is logged as one line, not as a traceback through the client."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and type(error).__module__.startswith(("aiokafka", "kafka")):
            record.msg = f"a Kafka client task failed: {type(error).__name__}: {error}"
            record.args, record.exc_info, record.exc_text = (), None, None
        return True


def summarise(summary: RepeatSummary, prefixes: Iterable[str] = SUMMARISED_LOGGERS) -> None:
    """Put `summary` on every logger named by `prefixes` or below them that exists now (filters act on the
    logger a record is logged to, not on its parents); the client modules create theirs on import."""
    prefixes = tuple(prefixes)
    names = [name for name in list(logging.Logger.manager.loggerDict)
             if name in prefixes or name.startswith(tuple(f"{p}." for p in prefixes))]
    for name in {*prefixes, *names}:
        logging.getLogger(name).addFilter(summary)
    logging.getLogger("asyncio").addFilter(KafkaTracebackInOneLine())
