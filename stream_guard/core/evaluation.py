"""Closing a window: resolve its reference, run every check on every feature, grade the results.

Pure: the caller supplies the closed window, the history of earlier closed windows and the clock
reading; it gets back evaluations (one per feature and check) and the closed-window record that
later windows will use as reference material.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from stream_guard.core import checks
from stream_guard.core.alerts import Evaluation
from stream_guard.core.config import FeatureSpec, MonitorSpec, SeverityLadder
from stream_guard.core.profile import CategoricalProfile, FeatureProfile, NumericProfile, WindowProfile

SEGMENT_ALL = "all"
METRIC_LABELS = {"psi": "PSI", "ks": "KS distance", "jensen_shannon": "JS distance",
                 "linf": "L-inf distance", "missing_rate_increase": "missing-rate rise"}


@dataclass(frozen=True)
class ClosedWindow:
    """A merged, evaluated window kept as reference material; `critical` names its critical features."""

    profile: WindowProfile
    critical: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Reference:
    windows: tuple[ClosedWindow, ...]
    feature: FeatureProfile | None
    events: int
    missing: int

    @property
    def start(self) -> int | None:
        return min(w.profile.start for w in self.windows) if self.windows else None

    @property
    def end(self) -> int | None:
        return max(w.profile.end for w in self.windows) if self.windows else None


def resolve_reference(monitor: MonitorSpec, feature: str, current_start: int,
                      history: Sequence[ClosedWindow]) -> Reference:
    """The previous `windows` closed windows, newest first, skipping ones where `feature` was critical."""
    spec = monitor.reference
    earlier = sorted((w for w in history if w.profile.start < current_start),
                     key=lambda w: w.profile.start, reverse=True)
    if spec.exclude_critical:
        earlier = [w for w in earlier if feature not in w.critical]
    chosen = tuple(earlier[: spec.windows])
    if not chosen:
        return Reference((), None, 0, 0)
    merged = chosen[0].profile.features[feature]
    for window in chosen[1:]:
        merged = merged.merged(window.profile.features[feature])  # type: ignore[arg-type]
    return Reference(chosen, merged, sum(w.profile.events for w in chosen), merged.missing)


def evaluate_window(monitor: MonitorSpec, current: WindowProfile, history: Sequence[ClosedWindow],
                    emitted_at: int) -> tuple[list[Evaluation], ClosedWindow]:
    """Every check on every feature of the closed window `current`."""
    evaluations: list[Evaluation] = []
    for name, spec in monitor.all_features().items():
        reference = resolve_reference(monitor, name, current.start, history)
        evaluations.extend(_feature_checks(monitor, name, spec, current, reference, emitted_at))
    critical = frozenset(e.feature for e in evaluations if e.severity == "critical")
    return evaluations, ClosedWindow(current, critical)


def _feature_checks(monitor: MonitorSpec, name: str, spec: FeatureSpec, current: WindowProfile,
                    reference: Reference, emitted_at: int) -> list[Evaluation]:
    drift_check = "numeric_drift" if spec.type == "numeric" else "categorical_drift"
    out = []
    for check in (drift_check, "missing_rate"):
        ladder: SeverityLadder = getattr(spec.checks, check) or getattr(monitor.checks, check)
        if ladder.enabled:
            out.append(_run_check(monitor, name, check, ladder, current, reference, emitted_at))
    return out


def _run_check(monitor: MonitorSpec, name: str, check: str, ladder: SeverityLadder,
               current: WindowProfile, reference: Reference, emitted_at: int) -> Evaluation:
    feature = current.features[name]
    metric = getattr(ladder, "metric", "missing_rate_increase")
    value, n_current, n_reference, detail = _measure(check, metric, ladder, feature, current, reference, monitor)
    importance = monitor.all_features()[name].importance
    severity = "ok" if value is None else ladder.grade(value * importance)
    if value is not None and importance != 1.0:
        detail += f"; graded as {_g(value)} × importance {importance:g} = {_g(value * importance)}"
    if severity in ("warning", "critical") and min(n_current, n_reference) < monitor.min_samples:
        severity = "info"
        detail += f"; graded info at most: fewer than {monitor.min_samples} samples"
    return Evaluation(
        monitor=monitor.name, segment=SEGMENT_ALL, feature=name, check=check, metric=metric,
        severity=severity, window_start=current.start, window_end=current.end,
        reference_kind=monitor.reference.kind, reference_start=reference.start,
        reference_end=reference.end, value=value, threshold=ladder.threshold_for(severity),
        n_current=n_current, n_reference=n_reference,
        summary=_summary(name, metric, value, severity, ladder, reference, detail), emitted_at=emitted_at,
        importance=importance,
    )


def _measure(check: str, metric: str, ladder: SeverityLadder, feature: FeatureProfile, current: WindowProfile,
             reference: Reference, monitor: MonitorSpec) -> tuple[float | None, int, int, str]:
    needed = monitor.reference.min_windows
    if len(reference.windows) < needed or reference.feature is None:
        detail = f"reference not ready ({len(reference.windows)} of {needed} windows)"
        return None, _n(check, feature, current), 0, detail
    if check == "missing_rate":
        before = reference.missing / max(reference.events, 1)
        now = feature.missing / max(current.events, 1)
        return now - before, current.events, reference.events, f"missing {before:.1%} → {now:.1%}"
    if feature.n == 0 or reference.feature.n == 0:
        return None, feature.n, reference.feature.n, "no valid values to compare"
    if isinstance(feature, NumericProfile):
        ref = reference.feature
        assert isinstance(ref, NumericProfile)
        value = checks.numeric_drift(metric, ref, feature, getattr(ladder, "bins", 10))
        detail = f"median {_g(ref.sketch.get_quantile(0.5))} → {_g(feature.sketch.get_quantile(0.5))}"
        return value, feature.n, ref.n, detail
    ref_cat = reference.feature
    assert isinstance(ref_cat, CategoricalProfile) and isinstance(feature, CategoricalProfile)
    value = checks.categorical_drift(metric, ref_cat, feature)
    unseen = checks.unseen_values(ref_cat, feature)
    detail = f"values never seen in the reference: {', '.join(map(repr, unseen))}" if unseen else ""
    return value, feature.n, ref_cat.n, detail


def _n(check: str, feature: FeatureProfile, current: WindowProfile) -> int:
    return current.events if check == "missing_rate" else feature.n


def _summary(name: str, metric: str, value: float | None, severity: str, ladder: SeverityLadder,
             reference: Reference, detail: str) -> str:
    label = METRIC_LABELS.get(metric, metric)
    if value is None:
        return f"{name}: {label} not computed: {detail}."
    against = f"against the previous {len(reference.windows)} windows"
    threshold = ladder.threshold_for(severity)
    verdict = (f"reaches {severity} (threshold {_g(threshold)})" if severity != "ok"
               else f"is within bounds (below {_g(threshold)})")
    tail = f"; {detail}" if detail else ""
    return f"{name}: {label} {_g(value)} {against} {verdict}{tail}."


def _g(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"
