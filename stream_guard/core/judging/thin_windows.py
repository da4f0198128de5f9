"""Windows thinner than `min_samples`, said out loud: how many, and the window size that would reach it.

A window with fewer than `min_samples` events grades its checks `info` at most, so a monitor whose
windows are mostly that thin never alerts. `replay`, `validate --events` and the status page count
them with this and print the same sentence.

>>> thin = ThinWindows(min_samples=200, window_ms=60_000)
>>> for events in (50, 60, 70, 400):
...     thin.add(events)
>>> thin.mostly_thin(), thin.window_reaching()
(True, 83000)
>>> for part in thin.sentence().split("; "):
...     print(part)
3 of 4 windows held fewer than min_samples (200) events, so their checks grade info at most
a window of 1m23s would hold about 200 at this rate
"""

from __future__ import annotations

from dataclasses import dataclass

from stream_guard.core.topology.durations import format_duration


@dataclass
class ThinWindows:
    """How many of a monitor's evaluated windows held fewer events than its `min_samples`."""

    min_samples: int
    window_ms: int
    windows: int = 0
    thin: int = 0
    events: int = 0

    def add(self, events: int) -> None:
        """Count one evaluated window of `events` events."""
        self.windows += 1
        self.events += events
        self.thin += events < self.min_samples

    def mostly_thin(self) -> bool:
        return self.windows > 0 and self.thin * 2 > self.windows

    def window_reaching(self) -> int | None:
        """The window size, in ms, whose events would reach `min_samples` at the mean rate seen."""
        if not self.events:
            return None
        exact = -(-self.min_samples * self.window_ms * self.windows // self.events)
        return -(-exact // 1000) * 1000   # whole seconds

    def sentence(self) -> str:
        """What the thin windows mean for the checks, and the window size that would reach min_samples."""
        reaching = self.window_reaching()
        return (f"{self.thin} of {self.windows} windows held fewer than min_samples ({self.min_samples}) events, "
                f"so their checks grade info at most"
                + (f"; a window of {format_duration(reaching)} would hold about {self.min_samples} at this rate"
                   if reaching else "; no events at all"))
