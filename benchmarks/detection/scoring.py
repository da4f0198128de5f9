"""Scoring a tool's alarms against a stream's known change points, the same way for every tool.

- An alarm is a moment a tool says "something changed": its window, and the number of events the
  tool had seen when it raised it. A tool raising several alarms in one window (several features,
  several checks) raises one alarm there, at the earliest of them.
- For each change point, the first alarm in the `tolerance` windows starting at its window is its
  detection; its delay is counted in windows (0: in the first changed window) and in events
  (events from the first changed one through the one the alarm was raised on). A change point
  without one is a miss.
- Every other alarm is a false alarm, including a second alarm for a change already detected.
  Rates are per 10,000 events and per 1,000 windows of the whole stream.

Pure Python: both virtualenvs import it.

>>> timeline = Timeline(window_events=[100] * 10, change_windows=[5], tolerance=3)
>>> result = score(timeline, [Alarm(2, 300), Alarm(6, 700), Alarm(6, 650), Alarm(7, 800)])
>>> result.detections, result.delays_windows, result.delays_events, result.false_alarms, result.repeats
(1, [1], [150], 2, 1)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import accumulate
from statistics import mean


@dataclass(frozen=True, order=True)
class Alarm:
    window: int
    event: int     # events seen when it was raised: 1 for the stream's first event


@dataclass(frozen=True)
class Timeline:
    """A stream's shape: events per window, and the windows where a change starts."""

    window_events: list[int]
    change_windows: list[int]
    tolerance: int

    def events_through(self, window: int) -> int:
        """Events in windows 0..window: where a window tool's alarm for `window` stands."""
        return sum(self.window_events[:window + 1])

    def first_event(self, window: int) -> int:
        """The position (1-based) of the first event of `window`."""
        return sum(self.window_events[:window]) + 1

    def window_of(self, event: int) -> int:
        """The window holding the `event`-th event (1-based)."""
        for window, through in enumerate(accumulate(self.window_events)):
            if event <= through:
                return window
        raise ValueError(f"event {event} is beyond the stream's {sum(self.window_events)} events")


@dataclass(frozen=True)
class Score:
    events: int
    windows: int
    detections: int
    misses: int
    delays_windows: list[int] = field(default_factory=list)
    delays_events: list[int] = field(default_factory=list)
    false_alarms: int = 0
    repeats: int = 0              # of the false alarms: those inside a detected change's tolerance

    @property
    def false_alarms_per_10k_events(self) -> float:
        return 10_000 * self.false_alarms / self.events if self.events else 0.0

    @property
    def false_alarms_per_1k_windows(self) -> float:
        return 1_000 * self.false_alarms / self.windows if self.windows else 0.0

    def as_row(self) -> dict[str, float | int | None]:
        return {"detections": self.detections, "misses": self.misses,
                "delay_windows": mean(self.delays_windows) if self.delays_windows else None,
                "delay_events": mean(self.delays_events) if self.delays_events else None,
                "false_alarms": self.false_alarms,
                "false_alarms_per_10k_events": round(self.false_alarms_per_10k_events, 3),
                "false_alarms_per_1k_windows": round(self.false_alarms_per_1k_windows, 3)}


def one_per_window(alarms: list[Alarm]) -> list[Alarm]:
    """The earliest alarm of each window, in time order."""
    first: dict[int, Alarm] = {}
    for alarm in sorted(alarms):
        first.setdefault(alarm.window, alarm)
    return sorted(first.values())


def score(timeline: Timeline, alarms: list[Alarm]) -> Score:
    """Detections, misses, delays and false alarms of `alarms` on `timeline` (see the module doc)."""
    pending = one_per_window(alarms)
    delays_w: list[int] = []
    delays_e: list[int] = []
    claimed: set[Alarm] = set()
    in_tolerance: set[Alarm] = set()
    for change in timeline.change_windows:
        inside = [a for a in pending if change <= a.window < change + timeline.tolerance]
        in_tolerance.update(inside)
        hit = next((a for a in inside if a not in claimed), None)
        if hit is None:
            continue
        claimed.add(hit)
        delays_w.append(hit.window - change)
        delays_e.append(hit.event - timeline.first_event(change) + 1)
    false = [a for a in pending if a not in claimed]
    return Score(events=sum(timeline.window_events), windows=len(timeline.window_events),
                 detections=len(claimed), misses=len(timeline.change_windows) - len(claimed),
                 delays_windows=delays_w, delays_events=delays_e, false_alarms=len(false),
                 repeats=sum(1 for a in false if a in in_tolerance))


def window_alarms(timeline: Timeline, windows: list[int]) -> list[Alarm]:
    """Alarms of a tool that judges whole windows: each stands at its window's last event."""
    return [Alarm(w, timeline.events_through(w)) for w in windows]


def event_alarms(timeline: Timeline, events: list[int]) -> list[Alarm]:
    """Alarms of a tool that judges event by event (1-based positions)."""
    return [Alarm(timeline.window_of(e), e) for e in events]
