"""Log resets: a source partition whose log restarted or was truncated below what was folded from it.

A broker that lost its log (a restart without storage; in production a topic deleted and recreated,
an unclean leader election, retention past the stored offset) hands out offsets already folded. The
partition's owner notices (`core.ownership.log_restarted`), counts it in the partition's state and
folds the new log from its start. The evaluating worker turns a count that grew into a `log_reset`
evaluation of the next window it closes, graded critical, and into `ok` once the count stays put,
so the alert fires once and resolves through the usual lifecycle.

>>> from stream_guard.core.topology.monitor import MonitorSpec
>>> spec = MonitorSpec.model_validate({"name": "m", "source": {"topic": "t", "timestamp": "ts"},
...     "window": {"size": "1m"}, "features": {"x": {"type": "numeric"}}})
>>> watch = ResetWatch()
>>> watch.evaluation(spec, {0: 0, 1: 0}, 0, emitted_at=65_000, firing=False) is None
True
>>> reading = watch.evaluation(spec, {0: 0, 1: 1}, 60_000, emitted_at=125_000, firing=False)
>>> reading.severity, reading.value
('critical', 1.0)
>>> reading.summary[:60]
'source: partition 1 of topic t restarted below the offsets a'
>>> watch.evaluation(spec, {0: 0, 1: 1}, 120_000, emitted_at=185_000, firing=True).severity
'ok'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from stream_guard.core.alerting.alerts import Evaluation
from stream_guard.core.judging.evaluation import MONITOR_WIDE, SEGMENT_ALL
from stream_guard.core.topology.monitor import MonitorSpec

CHECK = "log_reset"
METRIC = "log_resets"


@dataclass
class ResetWatch:
    """The log resets of a monitor's partitions as the evaluating worker last saw them at a window close
    (from its first close on, so resets from before it started do not alert again)."""

    seen: dict[int, int] | None = None

    def evaluation(self, monitor: MonitorSpec, resets: Mapping[int, int], start: int, emitted_at: int,
                   firing: bool) -> Evaluation | None:
        """The `log_reset` evaluation of window `start`: critical when a partition's count grew since
        the last close, ok while the series still fires, else none (no record on quiet windows)."""
        seen, self.seen = self.seen, {**(self.seen or {}), **resets}
        new = {} if seen is None else {p: n - seen.get(p, 0) for p, n in sorted(resets.items()) if n > seen.get(p, 0)}
        if not new and not firing:
            return None
        return Evaluation(
            monitor=monitor.name, segment=SEGMENT_ALL, feature=MONITOR_WIDE, check=CHECK, metric=METRIC,
            severity="critical" if new else "ok", window_start=start, window_end=start + monitor.window.size,
            reference_kind="none", reference_start=None, reference_end=None, value=float(sum(new.values())),
            threshold=1.0, n_current=0, n_reference=0, summary=_summary(monitor, new), emitted_at=emitted_at)


def _summary(monitor: MonitorSpec, new: Mapping[int, int]) -> str:
    if not new:
        return f"source: no log of topic {monitor.source.topic} restarted since the last window."
    which = ("partition " if len(new) == 1 else "partitions ") + ", ".join(map(str, new))
    return (f"source: {which} of topic {monitor.source.topic} restarted below the offsets already folded "
            f"(its log was lost or truncated); the new log is folded from its start.")
