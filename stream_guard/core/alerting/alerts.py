"""Evaluation and alert records (`stream_guard.evaluation/v1`, `stream_guard.alert/v1`) and their ids.

Ids are deterministic: the same monitor, segment, feature, check and window give the same id, so a
retried publish or a replay of the same events yields the same alert id as the live run. A check read
on the worker's clock (freshness) can change severity more than once in one window, so its alert ids
also name the severity.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

SEVERITY_RANK = {"ok": 0, "info": 1, "warning": 2, "critical": 3}
CLOCK_CHECKS = frozenset({"freshness"})   # read every second on the worker's clock, not once per window


def fingerprint(monitor: str, segment: str, feature: str, check: str) -> str:
    """What stays the same across windows for one alerting series."""
    return hashlib.sha256(f"{monitor}\x1f{segment}\x1f{feature}\x1f{check}".encode()).hexdigest()[:16]


def record_id(fingerprint_: str, window_start: int, status: str | None = None) -> str:
    text = f"{fingerprint_}\x1f{window_start}" + (f"\x1f{status}" if status else "")
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def iso(ms: int) -> str:
    """Epoch ms as ISO-8601 UTC with a Z suffix.

    >>> iso(1700000000000)
    '2023-11-14T22:13:20Z'
    """
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    text = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return text.replace(".000Z", "Z")


def finite(value: float | None) -> float | None:
    """JSON has no NaN or infinity: such values become null; others are rounded for reading."""
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), 6)


def significant(value: float | None) -> float | None:
    """A p-value for JSON: four significant digits (tiny ones stay tiny instead of rounding to 0).

    >>> significant(1.234567e-12), significant(None)
    (1.235e-12, None)
    """
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.4g}")


@dataclass(frozen=True)
class Evaluation:
    """The outcome of one check on one feature in one monitor window."""

    monitor: str
    segment: str
    feature: str
    check: str
    metric: str
    severity: str
    window_start: int
    window_end: int
    reference_kind: str
    reference_start: int | None
    reference_end: int | None
    value: float | None
    threshold: float | None
    n_current: int
    n_reference: int
    summary: str
    emitted_at: int
    p_value: float | None = None       # for "no change", where the check has a test
    p_adjusted: float | None = None    # after the monitor window's multiple-testing correction
    importance: float = 1.0   # the feature's weight: `severity` grades value × importance
    examples: tuple[str, ...] = ()   # slo: a few values that broke the schema
    reference_name: str | None = None   # which of the monitor's named `references:` (None: it has one)
    window_shift_sd: float | None = None   # cusum: the window's own mean shift, in the baseline's sd

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.monitor, self.segment, self.feature, self.check)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": "stream_guard.evaluation/v1",
            "id": record_id(self.fingerprint, self.window_start),
            **self._common(),
        }

    def alert(self, status: str, severity: str, summary: str) -> dict[str, Any]:
        """This evaluation as an alert record with the given lifecycle status."""
        body = self._common()
        body.update(severity=severity, summary=summary)
        key = f"{status}\x1f{severity}" if self.check in CLOCK_CHECKS else status
        return {"schema": "stream_guard.alert/v1",
                "id": record_id(self.fingerprint, self.window_start, key),
                "status": status, **body}

    def _common(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "monitor": self.monitor,
            "segment": self.segment,
            "feature": self.feature,
            "check": self.check,
            "metric": self.metric,
            "severity": self.severity,
            "window": {"start": iso(self.window_start), "end": iso(self.window_end)},
            "reference": {
                "kind": self.reference_kind,
                "start": iso(self.reference_start) if self.reference_start is not None else None,
                "end": iso(self.reference_end) if self.reference_end is not None else None,
                **({"name": self.reference_name} if self.reference_name is not None else {}),
            },
            "value": finite(self.value),
            "p_value": significant(self.p_value),
            "p_adjusted": significant(self.p_adjusted),
            "threshold": finite(self.threshold),
            "n_current": self.n_current,
            "n_reference": self.n_reference,
            "summary": self.summary,
            "emitted_at": iso(self.emitted_at),
            "importance": finite(self.importance),
            **({"examples": list(self.examples)} if self.examples else {}),
            **({"window_shift_sd": finite(self.window_shift_sd)} if self.window_shift_sd is not None else {}),
        }


def worst_first(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Firing entries ranked by severity, then by value (the effect size), highest first; ties by name.

    >>> [e["feature"] for e in worst_first([{"feature": "a", "check": "c", "severity": "warning", "value": 3},
    ...                                     {"feature": "b", "check": "c", "severity": "critical", "value": 0.3},
    ...                                     {"feature": "c", "check": "c", "severity": "critical", "value": 0.9}])]
    ['c', 'b', 'a']
    """
    def rank(entry: dict[str, Any]) -> tuple[int, float, str, str]:
        value = entry["value"] if entry["value"] is not None else -math.inf
        return -SEVERITY_RANK[entry["severity"]], -value, entry["feature"], entry["check"]
    return sorted(entries, key=rank)


def dumps(record: dict[str, Any]) -> bytes:
    """One record as compact JSON bytes (no NaN can reach here: values pass through `finite`)."""
    return orjson.dumps(record)
