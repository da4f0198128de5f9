"""The state of one alerting series: what was last announced about it and how long it has been at or
above, or below, each severity. A feature's check is a `SeriesState`; the source-level series that
stands for every feature of one upstream (`inhibition`) is a `SourceState`. `lifecycle` drives them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from stream_guard.core.alerting.alerts import SEVERITY_RANK
from stream_guard.core.topology.monitor import AlertingSpec

LEVELS = ("info", "warning", "critical")


class Change(NamedTuple):
    """A record to emit: `firing` or `resolved` at `severity`; `repeat` > 0 for the k-th re-emission."""

    status: str
    severity: str
    repeat: int = 0


@dataclass(kw_only=True)
class Announced:
    """What was last announced about one alerting series, and when it may be announced again."""

    severity: str | None = None   # the firing severity; None while not firing
    since: int | None = None      # start of the window where it started firing
    hold: int = 0                 # cooldown windows left before it may fire again
    quiet: int = 0                # windows since its last record, while firing
    repeats: int = 0              # re-emissions since it last changed
    alert_id: str | None = None   # the id of its last record

    def settle(self, severity: str | None, window_start: int, policy: AlertingSpec) -> Change | None:
        """Move to `severity` (None: not firing) after one observed window; the record that calls for, if any."""
        cooling = self.hold > 0
        self.hold = max(self.hold - 1, 0)
        old = self.severity
        self.severity = None if old is None and cooling else severity
        if self.severity is None:
            if old is None:
                return None
            self.since, self.quiet, self.repeats, self.hold = None, 0, 0, policy.cooldown
            return Change("resolved", old)
        if self.severity != old:
            self.since = window_start if old is None else self.since
            self.quiet = self.repeats = 0
            return Change("firing", self.severity)
        self.quiet += 1
        if policy.repeat and self.quiet >= policy.repeat:
            self.quiet, self.repeats = 0, self.repeats + 1
            return Change("firing", self.severity, self.repeats)
        return None

    @property
    def idle(self) -> bool:
        """Nothing to remember: not firing and not cooling down."""
        return self.severity is None and self.hold == 0


@dataclass(kw_only=True)
class SeriesState(Announced):
    """One feature and check: how long it has been at or above, or below, each severity."""

    feature: str
    check: str
    group: str | None = None   # fingerprint of its source-level series, if the feature declares a source
    above: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LEVELS, 0))
    below: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LEVELS, 0))
    value: float | None = None

    def observe(self, graded: str, policy: AlertingSpec) -> str | None:
        """Count one window graded `graded`; the severity the series fires at after it (None: not firing)."""
        for level in LEVELS:
            reached = SEVERITY_RANK[graded] >= SEVERITY_RANK[level]
            self.above[level] = self.above[level] + 1 if reached else 0
            self.below[level] = 0 if reached else self.below[level] + 1
        held = [level for level in LEVELS if self._holds(level, policy)]
        return held[-1] if held else None

    def _holds(self, level: str, policy: AlertingSpec) -> bool:
        if self.severity is not None and SEVERITY_RANK[level] <= SEVERITY_RANK[self.severity]:
            return self.below[level] <= policy.keep_firing_for
        return self.above[level] >= policy.for_

    @property
    def pending(self) -> bool:
        """At or above some severity, but not (yet) firing at it."""
        return self.severity is None and any(self.above.values())

    @property
    def idle(self) -> bool:
        return super().idle and not self.pending


@dataclass(kw_only=True)
class SourceState(Announced):
    """The source-level series that stands for every feature declaring `source: name`."""

    name: str
    features: list[dict[str, Any]] = field(default_factory=list)   # the members its last record listed
