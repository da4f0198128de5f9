"""The `state_cap` check: a window that went over the monitor's `max_window_bytes`.

What a window keeps is bounded (`core/profiles/capping.py`): over the cap, segments lose their own
profiles and pool into `other`. That must not go unseen, so the closing window's profile, which carries
how far over it went and what was pooled, becomes a `state_cap` evaluation graded warning (value: the
window's estimated bytes at its largest, threshold: the cap); once windows fit again, `ok` while the series
still fires (so it resolves), else no record at all.

>>> from stream_guard.core.topology.monitor import MonitorSpec
>>> from stream_guard.core.profiles.profile import WindowProfile
>>> spec = MonitorSpec.model_validate({"name": "m", "source": {"topic": "t", "timestamp": "ts"},
...     "window": {"size": "1m"}, "features": {"x": {"type": "numeric"}}, "max_window_bytes": "64KiB"})
>>> window = WindowProfile(0, 60_000, 900, peak_bytes=70_000, pooled_events=120, pooled_names=["b", "c"])
>>> reading = state_cap_evaluation(spec, window, emitted_at=65_000, firing=False)
>>> reading.severity, reading.value, reading.threshold
('warning', 70000.0, 65536.0)
>>> reading.summary.split(": ")[-1]
'2 segments (b, c; 120 events) lost their own profiles; their events are folded into segment other'
>>> state_cap_evaluation(spec, WindowProfile(60_000, 120_000), 125_000, firing=False) is None
True
"""

from __future__ import annotations

from stream_guard.core.alerting.alerts import Evaluation
from stream_guard.core.judging.evaluation import MONITOR_WIDE, SEGMENT_ALL
from stream_guard.core.profiles.capping import estimated_bytes
from stream_guard.core.profiles.profile import OTHER, POOLED_NAMES, WindowProfile
from stream_guard.core.topology.monitor import MonitorSpec
from stream_guard.core.topology.sizes import format_size

CHECK = "state_cap"
METRIC = "window_bytes"


def state_cap_evaluation(monitor: MonitorSpec, window: WindowProfile, emitted_at: int,
                         firing: bool) -> Evaluation | None:
    """Warning when `window` went over the cap, ok when it did not but the series still fires, else none."""
    over = window.peak_bytes > 0
    if not over and not firing:
        return None
    return Evaluation(
        monitor=monitor.name, segment=SEGMENT_ALL, feature=MONITOR_WIDE, check=CHECK, metric=METRIC,
        severity="warning" if over else "ok", window_start=window.start, window_end=window.end,
        reference_kind="none", reference_start=None, reference_end=None,
        value=float(window.peak_bytes if over else estimated_bytes(window)), threshold=float(monitor.window_cap()),
        n_current=window.events, n_reference=0, summary=summary(monitor, window), emitted_at=emitted_at)


def summary(monitor: MonitorSpec, window: WindowProfile) -> str:
    cap = format_size(monitor.window_cap())
    if not window.peak_bytes:
        return f"state: the window of monitor {monitor.name} fit within its cap of {cap}."
    head = (f"state: the window of monitor {monitor.name} went over its cap of {cap} "
            f"(about {format_size(window.peak_bytes)})")
    if not window.pooled_events:
        return (f"{head}: nothing could be pooled, its features alone take that much; every event was kept; "
                "raise max_window_bytes or split the monitor")
    count = len(window.pooled_names)
    segments = f"{count} segment{'s' if count != 1 else ''}" if count < POOLED_NAMES else f"{count} or more segments"
    names = ", ".join(window.pooled_names) + (", ..." if count >= POOLED_NAMES else "")
    return (f"{head}: {segments} ({names}; {window.pooled_events:,} events) lost their own profiles; "
            f"their events are folded into segment {OTHER}")
