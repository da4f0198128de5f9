"""Inhibition: features declared as coming from one upstream `source` page once, as the source, not N times.

Their series keep their own lifecycle (`for`, `keep_firing_for`, cooldown) but emit nothing; one
source-level series (feature `source:<name>`, check `source`) stands for them. It fires when a member
fires, at the highest member severity, re-emits when that severity changes (or on `repeat`), and
resolves when no member fires. A member joining or leaving alone emits nothing: the record lists the
members firing when it was emitted, and the window digest lists the current ones.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from stream_guard.core.alerting.alerts import Evaluation, fingerprint, finite, iso, worst_first
from stream_guard.core.alerting.series import SeriesState, SourceState

SOURCE_CHECK = "source"


def source_fingerprint(monitor: str, segment: str, source: str) -> str:
    return fingerprint(monitor, segment, f"source:{source}", SOURCE_CHECK)


def member_entries(firing: list[SeriesState]) -> list[dict[str, Any]]:
    """Firing members as a source-level record lists them, worst first."""
    return worst_first([{"feature": s.feature, "check": s.check, "severity": s.severity, "value": finite(s.value)}
                        for s in firing])


def source_record(status: str, severity: str, repeat: int, state: SourceState, lead: Evaluation) -> dict[str, Any]:
    """An alert/v1 record for the source-level series; value, threshold and reference come from `lead`."""
    as_source = replace(lead, feature=f"source:{state.name}", check=SOURCE_CHECK, importance=1.0)
    record = as_source.alert(status, severity, _summary(status, severity, repeat, state))
    record["source"] = state.name
    record["features"] = state.features
    if repeat:
        record["repeat"] = repeat
    return record


def _summary(status: str, severity: str, repeat: int, state: SourceState) -> str:
    names = ", ".join(f"{m['feature']} {m['check']}" for m in state.features)
    if status == "resolved":
        return f"Resolved. Source {state.name}: no feature firing any more (last reported: {names})."
    listed = "; ".join(f"{m['feature']} {m['check']} {m['severity']} ({_g(m['value'])})" for m in state.features)
    count = len(state.features)
    text = f"Source {state.name}: {count} feature{'s' if count > 1 else ''} firing, worst {severity}: {listed}."
    if repeat and state.since is not None:
        text = f"Still firing since {iso(state.since)} (repeat {repeat}). {text}"
    return text


def _g(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"
