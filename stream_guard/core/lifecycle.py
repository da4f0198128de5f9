"""From evaluations to alerts: fire on entering a severity, stay quiet while it holds, resolve on return.

The `AlertBook` is the only state: for each fingerprint that is firing, its severity and the
window where it started. It round-trips through JSON so the live worker can keep it in Redis.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from stream_guard.core.alerts import Evaluation


@dataclass
class AlertBook:
    firing: dict[str, dict[str, Any]] = field(default_factory=dict)

    def apply(self, evaluations: Iterable[Evaluation]) -> list[dict[str, Any]]:
        """The alert records these evaluations cause, in order; updates which series are firing."""
        alerts = []
        for evaluation in evaluations:
            alert = self._transition(evaluation)
            if alert is not None:
                alerts.append(alert)
        return alerts

    def _transition(self, e: Evaluation) -> dict[str, Any] | None:
        if e.value is None:
            return None  # no evidence either way: keep the series as it is
        current = self.firing.get(e.fingerprint)
        if e.severity == "ok":
            if current is None:
                return None
            del self.firing[e.fingerprint]
            return e.alert("resolved", current["severity"], f"Resolved. {e.summary}")
        if current is not None and current["severity"] == e.severity:
            return None
        self.firing[e.fingerprint] = {"severity": e.severity, "since": e.window_start,
                                      "feature": e.feature, "check": e.check}
        return e.alert("firing", e.severity, e.summary)

    def to_json(self) -> dict[str, Any]:
        return {"version": 1, "firing": self.firing}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> AlertBook:
        return cls(dict((data or {}).get("firing", {})))
