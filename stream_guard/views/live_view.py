"""What a worker remembers, in memory only, for its status page and the `/status` JSON.

For each monitor: the last window this process closed (its result, the reference material it was
compared with, so a feature's reference and current distributions can be drawn on request) and
the most recent alert records it published. Nothing here does I/O; the runtime feeds it.

>>> spec = MonitorSpec.model_validate({"name": "m", "source": {"topic": "t", "timestamp": "ts"},
...                                    "window": {"size": "1m"}, "features": {"x": {"type": "numeric"}}})
>>> view = MonitorView(spec, max_alerts=2)
>>> for status in ("firing", "resolved", "firing"):
...     view.published([{"schema": ALERT_SCHEMA, "monitor": "m", "status": status}])
>>> [a["status"] for a in view.recent_alerts()]   # newest first, at most two
['firing', 'resolved']
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from stream_guard.core.alerting.alerts import finite, iso, significant
from stream_guard.core.engine import MonitorEngine, WindowResult
from stream_guard.core.judging.evaluation import SEGMENT_ALL
from stream_guard.core.judging.references import ClosedWindow
from stream_guard.core.profiles.snapshot import Snapshot
from stream_guard.core.topology.monitor import MonitorSpec
from stream_guard.views.distributions import distribution_svg, feature_pair

ALERT_SCHEMA = "stream_guard.alert/v1"
MAX_RECENT_ALERTS = 50
MAX_HISTORY_WINDOWS = 30

CheckKey = tuple[str, str, str]   # segment, feature, check


@dataclass(frozen=True)
class CheckPoint:
    """One check's outcome in one past window, for the feature page's sparklines."""

    start: str
    value: float | None
    threshold: float | None
    severity: str


@dataclass(frozen=True)
class LatestWindow:
    """The newest window this process evaluated, with what its references were built from."""

    result: WindowResult
    history: tuple[ClosedWindow, ...]
    snapshot: Snapshot | None
    evaluated_at: int   # epoch ms, the worker's clock


@dataclass
class MonitorView:
    monitor: MonitorSpec
    max_alerts: int = MAX_RECENT_ALERTS
    latest: LatestWindow | None = None
    alerts: deque[dict[str, Any]] = field(init=False)
    checks: deque[tuple[str, dict[CheckKey, dict[str, Any]]]] = field(
        default_factory=lambda: deque(maxlen=MAX_HISTORY_WINDOWS))   # (window start, its checks), oldest first
    _plots: dict[tuple[str, str], str | None] = field(default_factory=dict)
    _history: dict[int, ClosedWindow] = field(default_factory=dict)   # the engine's, after the last close
    over_cap: int = 0          # windows this process evaluated that went over max_window_bytes
    pooled_events: int = 0     # their events whose segment's own profile the cap did not keep
    last_over_cap: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.alerts = deque(maxlen=self.max_alerts)

    def window_closed(self, engine: MonitorEngine, result: WindowResult, now: int) -> None:
        """Keep a just-closed window (call right after `close_window`).

        Closing a window may drop from the engine's history the oldest window its own reference used
        (a seasonal reference one period back): the history as it stood after the previous close
        still holds it, so the reference material kept is the union of both.
        """
        history = dict(engine.history)
        material = {**self._history, **history}
        self._history = history
        self.latest = LatestWindow(result, tuple(material[s] for s in sorted(material)), engine.snapshot, now)
        self._plots = {}
        self.checks.append((iso(result.start), {(e.segment, e.feature, e.check): check_json(e)
                                                for e in result.evaluations}))
        window = result.closed.profile
        if window.peak_bytes:
            self.over_cap += 1
            self.pooled_events += window.pooled_events
            self.last_over_cap = {"start": iso(window.start), "end": iso(window.end), "peak_bytes": window.peak_bytes,
                                  "pooled_events": window.pooled_events, "pooled_segments": window.pooled_names}

    def state_json(self, open_bytes: dict[str, int]) -> dict[str, Any]:
        """The `state` part of `/status`: the cap, the open windows' estimated bytes per partition and
        what went over the cap in the windows this process evaluated."""
        return {"max_window_bytes": self.monitor.window_cap(), "open_window_bytes": open_bytes,
                "windows_over_cap": self.over_cap, "pooled_events": self.pooled_events,
                "last_over_cap": self.last_over_cap}

    def published(self, records: Sequence[dict[str, Any]]) -> None:
        """Keep the alert records among published ones (window digests are left out)."""
        self.alerts.extend(r for r in records if r.get("schema") == ALERT_SCHEMA)

    def recent_alerts(self) -> list[dict[str, Any]]:
        """The last `max_alerts` alert records, newest first."""
        return list(reversed(self.alerts))

    def check_history(self, feature: str, segment: str = SEGMENT_ALL) -> dict[str, list[CheckPoint]]:
        """Each check of a feature over the last windows this process evaluated, oldest first."""
        history: dict[str, list[CheckPoint]] = {}
        for start, checks in self.checks:
            for (seg, feat, check), c in sorted(checks.items()):
                if (seg, feat) == (segment, feature):
                    history.setdefault(check, []).append(CheckPoint(start, c["value"], c["threshold"], c["severity"]))
        return history

    def firing_since(self, fingerprint: str) -> tuple[str | None, str | None]:
        """(wall-clock time of the record that made a series fire, summary of its latest record), when kept."""
        records = [r for r in self.alerts if r.get("fingerprint") == fingerprint]
        if not records:
            return None, None
        first = records[-1]
        for record in reversed(records):
            if record.get("status") != "firing":
                break
            first = record
        return first.get("emitted_at"), records[-1].get("summary")

    def feature_alerts(self, feature: str, segment: str = SEGMENT_ALL) -> list[dict[str, Any]]:
        """The kept alert records about a feature (alone or as a member of a source alert), newest first."""
        def about(record: dict[str, Any]) -> bool:
            members = {m.get("feature") for m in record.get("features", [])}
            return record.get("segment") == segment and (record.get("feature") == feature or feature in members)
        return [r for r in self.recent_alerts() if about(r)]

    def window_json(self) -> dict[str, Any] | None:
        """The latest window and every check result in it, for `/status` and the page."""
        if self.latest is None:
            return None
        result = self.latest.result
        return {"start": iso(result.start), "end": iso(result.end), "events": result.events,
                "evaluated_at": iso(self.latest.evaluated_at),
                "checks": [check_json(e) for e in sorted(result.evaluations,
                                                         key=lambda e: (e.segment, e.feature, e.check))]}

    def plot(self, feature: str, segment: str = SEGMENT_ALL) -> str | None:
        """The feature's reference and current distributions in the latest window, as SVG."""
        if self.latest is None:
            return None
        if (segment, feature) not in self._plots:
            pair = feature_pair(self.monitor, self.latest.result.closed.profile, self.latest.history,
                                self.latest.snapshot, segment, feature)
            self._plots[(segment, feature)] = distribution_svg(*pair) if pair else None
        return self._plots[(segment, feature)]


def check_json(evaluation: Any) -> dict[str, Any]:
    """One check result of a window, as the page and `/status` show it."""
    return {"segment": evaluation.segment, "feature": evaluation.feature, "check": evaluation.check,
            "metric": evaluation.metric, "severity": evaluation.severity, "value": finite(evaluation.value),
            "threshold": finite(evaluation.threshold), "p_value": significant(evaluation.p_value),
            "p_adjusted": significant(evaluation.p_adjusted), "n_current": evaluation.n_current,
            "n_reference": evaluation.n_reference, "summary": evaluation.summary}
