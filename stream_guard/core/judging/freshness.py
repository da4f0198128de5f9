"""Freshness: how long since the worker last received a record of each source partition it owns.

Measured on the worker's clock (processing time), not in event time, so it also fires when nothing
arrives at all: a partition that has sent nothing since it was assigned counts from its assignment.
The monitor's reading is its stalest assigned partition. Any record counts, usable or dead-lettered:
freshness asks whether the source is alive; the other checks ask whether its events are any good.

    worker clock ──►  0     30s    1m    1m30s   2m    2m30s
    partition 0       ● ●  ● ●  ●  ●  ●  ●  ●  ●  ●  ●  ●
    partition 1       ● ●  ●                              (silent from 25s)
    reading           ok ..................... warning at 2m25s (warning: 2m)

A partition that has sent nothing since it was assigned only shows that the source has been silent
*at least* that long, so such a reading can confirm or raise the firing severity but never lower it:
a restarted worker does not resolve an alert just because its own clock started again. Below the
firing severity the reading has no value and keeps that severity, so that the status page shows
what is firing rather than `ok`.

>>> from stream_guard.core.topology.monitor import MonitorSpec
>>> spec = MonitorSpec.model_validate({"name": "m", "source": {"topic": "t", "timestamp": "ts"},
...     "window": {"size": "1m"}, "features": {"x": {"type": "numeric"}},
...     "checks": {"freshness": {"warning": "2m", "critical": "10m"}}})
>>> reading = freshness_evaluation(spec, 1_000_145_000, {0: Heard(1_000_020_000, True), 1: Heard(999_999_000, True)})
>>> reading.severity, reading.value, reading.threshold
('warning', 146.0, 120.0)
>>> reading.summary
'events: 2m26s since the last on partition 1 (the stalest of 2 assigned); reaches warning (threshold 2m).'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field
from typing import NamedTuple

from stream_guard.core.alerting.alerts import SEVERITY_RANK, Evaluation, fingerprint
from stream_guard.core.alerting.lifecycle import AlertBook
from stream_guard.core.judging.evaluation import MONITOR_WIDE, SEGMENT_ALL
from stream_guard.core.profiles.windows import window_start
from stream_guard.core.topology.durations import format_duration
from stream_guard.core.topology.monitor import MonitorSpec

CHECK = "freshness"
METRIC = "seconds_since_last_event"


class Heard(NamedTuple):
    """When the worker last heard of a partition: a record arrived at `at`, or (`record` false) it was
    assigned at `at` and has sent nothing since."""

    at: int
    record: bool


def freshness_evaluation(monitor: MonitorSpec, now: int, heard: Mapping[int, Heard],
                         held: str | None = None) -> Evaluation | None:
    """The monitor's freshness at `now` (epoch ms) from its assigned partitions, or None when it has
    none or the check is off. `held` is the severity the freshness series fires at, if it does.

    The value is in seconds; the window is the wall-clock window of the monitor's size holding `now`.
    """
    ladder = monitor.checks.freshness
    if not heard or not ladder.enabled:
        return None
    oldest = min(h.at for h in heard.values())
    stalest = sorted(p for p, h in heard.items() if h.at == oldest)
    silent = max(now - oldest, 0)
    severity = ladder.grade(silent)
    unheard = sorted(p for p, h in heard.items() if not h.record)
    value: float | None = silent / 1000
    if unheard and (severity == "ok" or SEVERITY_RANK[severity] < SEVERITY_RANK[held or "ok"]):
        # only a lower bound: no evidence of a live source, nor of a recovery, so the firing severity
        # stands (shown as such on the status page); without a value the alert book keeps the series as it is
        value, severity = None, held or "ok"
        summary = _not_known(unheard, now - min(heard[p].at for p in unheard), held)
    else:
        summary = _summary(stalest, len(heard), silent, any(heard[p].record for p in stalest), severity,
                           ladder.threshold_for(severity))
    threshold = ladder.threshold_for(severity)
    start = window_start(now, monitor.window.size)
    return Evaluation(
        monitor=monitor.name, segment=SEGMENT_ALL, feature=MONITOR_WIDE, check=CHECK, metric=METRIC,
        severity=severity, window_start=start, window_end=start + monitor.window.size, reference_kind="none",
        reference_start=None, reference_end=None, value=value,
        threshold=threshold / 1000 if threshold is not None else None, n_current=0, n_reference=0,
        summary=summary, emitted_at=now)


def _summary(stalest: list[int], assigned: int, silent: int, by_record: bool, severity: str,
             threshold: float | None) -> str:
    if 1 < assigned == len(stalest):
        where = f"all {assigned} assigned partitions"
    elif assigned > 1:
        where = f"{_partitions(stalest)} (the stalest of {assigned} assigned)"
    else:
        where = _partitions(stalest)
    if by_record:
        what = f"{_age(silent)} since the last on {where}"
    else:
        what = f"none in the {_age(silent)} since {where} {'was' if len(stalest) == 1 else 'were'} assigned"
    limit = _age(int(threshold)) if threshold is not None else "n/a"
    verdict = f"reaches {severity} (threshold {limit})" if severity != "ok" else f"within bounds (below {limit})"
    return f"events: {what}; {verdict}."


def _not_known(unheard: list[int], silent: int, held: str | None) -> str:
    one = len(unheard) == 1
    what = (f"{_partitions(unheard)} {'has' if one else 'have'} sent nothing since {'it was' if one else 'they were'} "
            f"assigned {_age(silent)} ago")
    tail = f", which cannot lower the firing {held}" if held and held != "ok" else ""
    return f"events: not computed: {what}{tail}."


def _partitions(partitions: list[int]) -> str:
    return ("partition " if len(partitions) == 1 else "partitions ") + ", ".join(map(str, partitions))


def _age(ms: int) -> str:
    """Whole seconds, the way durations are written in a topology: `2m26s`."""
    return format_duration(ms - ms % 1000)


@dataclass
class FreshnessWatch:
    """One monitor's freshness in a live worker: when each assigned partition was last heard of, and
    which readings its alert book observes.

    The book observes a reading when its grade changes and once per wall-clock window otherwise, so
    that `for`, `keep_firing_for`, `cooldown` and `repeat` count monitor windows here as for every
    other check, although the reading is taken every second.
    """

    monitor: MonitorSpec
    heard: dict[int, Heard] = field(default_factory=dict)
    _observed: tuple[int, str | None] | None = field(default=None, init=False, repr=False)   # window, grade

    def assigned(self, partitions: Set[int], now: int) -> None:
        """The partitions the worker owns now: new ones are watched from `now`, revoked ones forgotten."""
        self.heard = {p: self.heard.get(p) or Heard(now, record=False) for p in partitions}

    def heard_elsewhere(self, partition: int, at: int | None) -> None:
        """Another worker received records of `partition` at `at` (its own clock), if later than known."""
        heard = self.heard.get(partition)
        if at is not None and (heard is None or heard.at < at):
            self.received([partition], at)

    def received(self, partitions: Iterable[int], now: int) -> None:
        """Records of these partitions arrived at `now`."""
        for partition in partitions:
            self.heard[partition] = Heard(now, record=True)

    def observation(self, now: int, book: AlertBook) -> Evaluation | None:
        """The reading `book` should observe at `now`, if any."""
        series = book.series.get(fingerprint(self.monitor.name, SEGMENT_ALL, MONITOR_WIDE, CHECK))
        reading = freshness_evaluation(self.monitor, now, self.heard, series.severity if series else None)
        if reading is None:
            return None
        key = (reading.window_start, reading.severity if reading.value is not None else None)
        if key == self._observed:
            return None
        self._observed = key
        return reading

    def seconds_since(self, now: int) -> dict[int, float]:
        """Per assigned partition, seconds since the last record (or since it was assigned)."""
        return {p: max(now - h.at, 0) / 1000 for p, h in sorted(self.heard.items())}
