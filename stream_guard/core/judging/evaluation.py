"""Closing a window: resolve its reference, run every check on every feature, grade the results.

Pure: the caller supplies the closed window, the history of earlier closed windows and the clock
reading; it gets back evaluations (one per feature and check, plus the monitor's volume check) and
the closed-window record that later windows will use as reference material.

Grading runs in three steps: the value against the check's thresholds; at most `info` when either
side has fewer than `min_samples` values; and, for checks with a p-value, at most `info` unless the
p-value adjusted for every test of the monitor window (Benjamini-Hochberg by default) is below alpha.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from stream_guard.core.alerting.alerts import Evaluation
from stream_guard.core.decoding.registry import ABSENT_SUFFIX
from stream_guard.core.decoding.schema import constrained
from stream_guard.core.judging import checks, estimated, learned, multivariate
from stream_guard.core.judging.references import (
    ClosedWindow,
    Reference,
    anchored_windows,
    merged_reference,
    recent_windows,
    reference_windows,
    resolve_reference,
)
from stream_guard.core.profiles.multivariate import RECONSTRUCTION, active_model
from stream_guard.core.profiles.profile import CategoricalProfile, FeatureProfile, NumericProfile, WindowProfile
from stream_guard.core.profiles.snapshot import Snapshot
from stream_guard.core.topology.check_specs import CATEGORICAL_CHECKS, NUMERIC_CHECKS, SeverityLadder
from stream_guard.core.topology.features import FeatureSpec, kind
from stream_guard.core.topology.monitor import MonitorSpec
from stream_guard.core.topology.rules import Rule

SEGMENT_ALL = "all"
SEGMENT_MARK = "\x1f"   # joins a segment and a feature in ClosedWindow.critical
MONITOR_WIDE = "*"    # the feature name of checks on the whole monitor (volume)
METRIC_LABELS = {
    "psi": "PSI", "ks": "KS distance", "jensen_shannon": "JS distance", "linf": "L-inf distance",
    "wasserstein": "Wasserstein distance (sd)", "hellinger": "Hellinger distance",
    "chi_square": "Cramér's V", "missing_rate_increase": "missing-rate rise",
    "missing_rate_relative_increase": "relative missing-rate rise", "invalid_rate_increase": "invalid-rate rise",
    "mean_shift_sd": "mean shift (sd)", "std_shift_ratio": "sd change", "unseen_share": "share of new values",
    "distinct_fold_change": "distinct-count fold change", "events_fold_change": "event-count fold change",
    "violation_rate": "SLO violation rate", "schema_changes": "schema changes",
    "outside_share": "share outside what the reference held", "new_value_share": "share of values never seen",
    "reference_shift_sd": "rolling reference's shift from its anchor (sd)",
    "reconstruction_error_change": "change of the mean PCA reconstruction error",
    **{f"estimated_{m}": f"drop of estimated {label}" for m, label in estimated.LABELS.items()},
}


def evaluate_window(monitor: MonitorSpec, current: WindowProfile, history: Sequence[ClosedWindow],
                    emitted_at: int, snapshot: Snapshot | None = None) -> tuple[list[Evaluation], ClosedWindow]:
    """Every check on every feature of the closed window `current`, and the monitor's volume and
    schema; then the same for each of its segments, against that segment's own history."""
    results = _window_results(monitor, current, history, snapshot, SEGMENT_ALL)
    if monitor.checks.schema_drift.enabled:
        results.append(_schema_drift(monitor, current, history))
    if snapshot is not None and active_model(monitor, snapshot.multivariate) is not None:
        results.append(_multivariate(monitor, current, snapshot))
    for segment, profile in sorted(current.segments.items()):
        own = [ClosedWindow(w.profile.segments[segment], _segment_critical(w.critical, segment))
               for w in history if segment in w.profile.segments]
        results += _window_results(monitor, profile, own, snapshot, segment)
    evaluations = _graded(monitor, results, emitted_at)
    critical = frozenset(e.feature if e.segment == SEGMENT_ALL else f"{e.segment}{SEGMENT_MARK}{e.feature}"
                         for e in evaluations if e.severity == "critical")
    return evaluations, ClosedWindow(current, critical)


def _segment_critical(critical: frozenset[str], segment: str) -> frozenset[str]:
    """The features critical in `segment` (stored as `segment<mark>feature` beside the monitor-wide ones)."""
    prefix = f"{segment}{SEGMENT_MARK}"
    return frozenset(name[len(prefix):] for name in critical if name.startswith(prefix))


def _window_results(monitor: MonitorSpec, current: WindowProfile, history: Sequence[ClosedWindow],
                    snapshot: Snapshot | None, segment: str) -> list[_Result]:
    results: list[_Result] = []
    rules = monitor.parsed_rules()
    for name, spec in monitor.all_features().items():
        reference = resolve_reference(monitor, name, current.start, history, snapshot)
        for check in NUMERIC_CHECKS if kind(spec) == "numeric" else CATEGORICAL_CHECKS:
            ladder: SeverityLadder = getattr(spec.checks, check) or getattr(monitor.checks, check)
            if ladder.enabled and _applies(monitor, spec, check, rules.get(name, ())):
                anchored = check in ("slow_drift", "new_category") and monitor.reference.kind == "rolling"
                other = (merged_reference(name, *anchored_windows(monitor, name, current.start, history))
                         if anchored else reference)
                chosen, second = (other, reference) if check == "slow_drift" else (reference, other)
                result = _run_check(monitor, name, check, ladder, current, chosen, second)
                results.append(replace(result, segment=segment))
    if monitor.checks.volume.enabled:
        results.append(replace(_volume(monitor, current, history), segment=segment))
    if monitor.checks.estimated_performance.enabled:
        results.append(replace(_estimated(monitor, current, history, snapshot), segment=segment))
    return results


def _estimated(monitor: MonitorSpec, current: WindowProfile, history: Sequence[ClosedWindow],
               snapshot: Snapshot | None) -> _Result:
    name = estimated.predicted_feature(monitor)
    reference = resolve_reference(monitor, name, current.start, history, snapshot)
    needed = monitor.reference.needed_windows()
    feature = current.features[name]
    measure = (estimated.estimated_drop(monitor, feature, reference) if reference.size >= needed
               else checks.Measure(None, None, f"reference not ready ({reference.size} of {needed} windows)"))
    return _Result(name, estimated.CHECK, f"estimated_{monitor.checks.estimated_performance.metric}",
                   monitor.checks.estimated_performance, measure, feature.n,
                   reference.feature.n if reference.feature is not None else 0, current, reference.description,
                   reference.start, reference.end)


def _applies(monitor: MonitorSpec, spec: FeatureSpec, check: str, rules: Sequence[Rule]) -> bool:
    """Whether `check` has anything to judge on a feature declared as `spec`."""
    if check == "slo":
        return constrained(spec, rules)   # something declared that a record could violate
    if check == "slow_drift":
        return monitor.reference.kind == "rolling"   # other references do not follow the data
    if check == "new_category":
        return spec.allowed is None       # declared values are the slo check's
    if check == "outside_reference":
        return spec.min is None or spec.max is None or spec.type != "integer"
    return True


@dataclass(frozen=True)
class _Result:
    """A measured check before grading."""

    feature: str
    check: str
    metric: str
    ladder: SeverityLadder
    measure: checks.Measure
    n_current: int
    n_reference: int
    current: WindowProfile
    reference: str
    reference_start: int | None
    reference_end: int | None
    segment: str = SEGMENT_ALL


def _run_check(monitor: MonitorSpec, name: str, check: str, ladder: SeverityLadder,
               current: WindowProfile, reference: Reference, other: Reference) -> _Result:
    """`other` is the second reference some checks use: the rolling reference for `slow_drift` (whose
    `reference` is the anchor), the anchor for `new_category`."""
    feature = current.features[name]
    metric = _metric(check, ladder)
    if check == "slow_drift":
        measure, n_current, n_reference = _slow_drift(monitor, feature, reference, other)
    elif check == "new_category":
        measure, n_current, n_reference = _new_category(monitor, feature, reference, other)
    else:
        measure, n_current, n_reference = _measure(name, check, metric, ladder, feature, current, reference, monitor)
    if measure.value is not None and not math.isfinite(measure.value):   # graded ok and null in JSON otherwise
        measure = checks.Measure(None, None, f"its value came out as {measure.value} ({measure.detail or 'no detail'})")
    return _Result(name, check, metric, ladder, measure, n_current, n_reference, current,
                   reference.description, reference.start, reference.end)


def _metric(check: str, ladder: SeverityLadder) -> str:
    if check in ("numeric_drift", "categorical_drift"):
        return str(getattr(ladder, "metric"))  # noqa: B009 - only the drift ladders carry a metric
    if check == "missing_rate":
        return "missing_rate_relative_increase" if getattr(ladder, "metric") == "relative" else "missing_rate_increase"  # noqa: B009
    return {"invalid_rate": "invalid_rate_increase", "mean_shift": "mean_shift_sd", "std_shift": "std_shift_ratio",
            "unseen_share": "unseen_share", "cardinality": "distinct_fold_change", "slo": "violation_rate",
            "outside_reference": "outside_share", "new_category": "new_value_share",
            "slow_drift": "reference_shift_sd"}[check]


def _measure(name: str, check: str, metric: str, ladder: SeverityLadder, feature: FeatureProfile,
             current: WindowProfile, reference: Reference, monitor: MonitorSpec) -> tuple[checks.Measure, int, int]:
    if check == "slo":   # an absolute rate: no reference needed
        rate = feature.violations / current.events if current.events else None
        examples = f"; e.g. {', '.join(feature.examples)}" if feature.examples else ""
        detail = f"{feature.violations:,} of {current.events:,} events break the schema or rules{examples}"
        return checks.Measure(rate, None, detail), current.events, current.events
    needed = monitor.reference.needed_windows()
    if reference.size < needed or reference.feature is None:
        detail = (f"reference not ready ({reference.size} of {needed} windows)" if reference.snapshot is None
                  else f"reference not ready: {reference.description}")
        n_now = current.events if check in ("missing_rate", "invalid_rate") else feature.n
        return checks.Measure(None, None, detail), n_now, 0
    ref = reference.feature
    if check == "missing_rate":
        measure = checks.rate_rise(feature.missing, current.events, reference.missing, reference.events,
                                   relative=metric == "missing_rate_relative_increase")
        return measure, current.events, reference.events
    if check == "invalid_rate":
        measure = checks.rate_rise(_invalid(feature), current.events, _invalid(ref), reference.events)
        return measure, current.events, reference.events
    if feature.n == 0 or ref.n == 0:
        return checks.Measure(None, None, "no valid values to compare"), feature.n, ref.n
    if isinstance(feature, NumericProfile):
        assert isinstance(ref, NumericProfile)
        if check == "mean_shift":
            return checks.mean_shift(ref, feature), feature.n, ref.n
        if check == "std_shift":
            return checks.std_shift(ref, feature), feature.n, ref.n
        if check == "outside_reference":
            return learned.outside_reference(ref, feature, monitor.all_features()[name]), feature.n, ref.n
        return checks.numeric_drift(metric, ref, feature, getattr(ladder, "bins", 10)), feature.n, ref.n
    assert isinstance(ref, CategoricalProfile) and isinstance(feature, CategoricalProfile)
    if check == "unseen_share":
        return checks.unseen_share(ref, feature), feature.n, ref.n
    if check == "cardinality" and reference.snapshot is not None:
        return checks.Measure(None, None, "distinct counts need windows of the same length; a snapshot has none"), \
            feature.n, ref.n
    if check == "cardinality":
        per_window = [d for w in reference.windows
                      if (d := _distinct(w.profile.features.get(name))) is not None]
        return checks.cardinality(per_window, feature.distinct_count()), feature.n, ref.n
    measure = checks.categorical_drift(metric, ref, feature)
    unseen = checks.unseen_values(ref, feature)
    if unseen:
        measure = replace(measure, detail=f"values never seen in the reference: {', '.join(map(repr, unseen))}")
    return measure, feature.n, ref.n


def _new_category(monitor: MonitorSpec, feature: FeatureProfile, reference: Reference,
                  anchor: Reference) -> tuple[checks.Measure, int, int]:
    needed = monitor.reference.needed_windows()
    if reference.size < needed or reference.feature is None:
        return checks.Measure(None, None, f"reference not ready ({reference.size} of {needed} windows)"), \
            feature.n, 0
    ref = reference.feature
    assert isinstance(ref, CategoricalProfile) and isinstance(feature, CategoricalProfile)
    if feature.n == 0 or ref.n == 0:
        return checks.Measure(None, None, "no valid values to compare"), feature.n, ref.n
    held = anchor.feature if anchor is not reference and anchor.size >= needed else None
    assert held is None or isinstance(held, CategoricalProfile)
    return learned.new_category(ref, feature, held), feature.n, ref.n


def _slow_drift(monitor: MonitorSpec, feature: FeatureProfile, anchor: Reference,
                rolling: Reference) -> tuple[checks.Measure, int, int]:
    """The rolling reference's mean against its anchor's, in the anchor's standard deviations."""
    needed = monitor.reference.needed_windows()
    if anchor.size < needed or rolling.size < needed or anchor.feature is None or rolling.feature is None:
        return checks.Measure(None, None, f"anchor not ready ({anchor.description})"), feature.n, 0
    assert isinstance(anchor.feature, NumericProfile) and isinstance(rolling.feature, NumericProfile)
    if anchor.feature.n == 0 or rolling.feature.n == 0:
        return checks.Measure(None, None, "no valid values to compare"), rolling.feature.n, anchor.feature.n
    measure = checks.mean_shift(anchor.feature, rolling.feature)
    detail = f"{rolling.description} against {anchor.description}: {measure.detail}"
    return replace(measure, detail=detail), rolling.feature.n, anchor.feature.n


def _distinct(feature: FeatureProfile | None) -> float | None:
    return feature.distinct_count() if isinstance(feature, CategoricalProfile) else None


def _invalid(feature: FeatureProfile) -> int:
    return feature.invalid + (feature.out_of_range if isinstance(feature, NumericProfile) else 0)


def _volume(monitor: MonitorSpec, current: WindowProfile, history: Sequence[ClosedWindow]) -> _Result:
    """Events against a baseline of recent windows, whatever the distribution checks compare with."""
    chosen, description = recent_windows(monitor, MONITOR_WIDE, current.start, history)
    needed = monitor.reference.needed_windows() if monitor.reference.kind in ("rolling", "seasonal") else 3
    measure = (checks.volume([w.profile.events for w in chosen], current.events) if len(chosen) >= needed
               else checks.Measure(None, None, f"reference not ready ({len(chosen)} of {needed} windows)"))
    return _Result(MONITOR_WIDE, "volume", "events_fold_change", monitor.checks.volume, measure, current.events,
                   sum(w.profile.events for w in chosen), current, description,
                   min((w.profile.start for w in chosen), default=None),
                   max((w.profile.end for w in chosen), default=None))


def _schema_drift(monitor: MonitorSpec, current: WindowProfile, history: Sequence[ClosedWindow]) -> _Result:
    """New undeclared fields, and declared fields no event carried, against the reference windows."""
    needed = monitor.reference.needed_windows()
    chosen, description = (((), "a snapshot") if monitor.reference.kind == "snapshot"
                           else reference_windows(monitor, MONITOR_WIDE, current.start, history))
    if monitor.reference.kind != "snapshot" and len(chosen) < needed:
        measure = checks.Measure(None, None, f"reference not ready ({len(chosen)} of {needed} windows)")
    else:
        known = {name for w in chosen for name in w.profile.unknown_fields}
        new = sorted(set(current.unknown_fields) - known)
        vanished = sorted(name for name, f in current.features.items()
                          if current.events and f.missing == current.events
                          and any(w.profile.features[name].missing < w.profile.events for w in chosen))
        parts = _drift_parts(new, current.unknown_fields) + ([f"no event carries {', '.join(vanished)}"]
                                                              if vanished else [])
        measure = checks.Measure(float(len(new) + len(vanished)), None, "; ".join(parts))
    return _Result(MONITOR_WIDE, "schema_drift", "schema_changes", monitor.checks.schema_drift, measure,
                   current.events, sum(w.profile.events for w in chosen), current, description,
                   min((w.profile.start for w in chosen), default=None),
                   max((w.profile.end for w in chosen), default=None))


def _multivariate(monitor: MonitorSpec, current: WindowProfile, snapshot: Snapshot) -> _Result:
    """The window's PCA reconstruction error against the snapshot's (core.judging.multivariate)."""
    reference = resolve_reference(monitor, RECONSTRUCTION, current.start, (), snapshot)
    measure, n_current, n_reference = multivariate.measure_window(snapshot.multivariate, current, reference.feature)
    return _Result(MONITOR_WIDE, multivariate.CHECK, multivariate.METRIC, monitor.checks.multivariate, measure,
                   n_current, n_reference, current, reference.description, None, None)


def _drift_parts(new: list[str], counts: dict[str, int]) -> list[str]:
    """`new fields: x (n events)`, and for registry formats `dropped by the writer's schema: y (n events)`."""
    gone = [n for n in new if n.endswith(ABSENT_SUFFIX)]
    added = [n for n in new if not n.endswith(ABSENT_SUFFIX)]
    return ([f"new fields: {', '.join(f'{n} ({counts[n]:,} events)' for n in added)}"] if added else []) + (
        [f"dropped by the writer's schema: "
         f"{', '.join(f'{n.removesuffix(ABSENT_SUFFIX)} ({counts[n]:,} events)' for n in gone)}"] if gone else [])


def _graded(monitor: MonitorSpec, results: list[_Result], emitted_at: int) -> list[Evaluation]:
    testing = monitor.multiple_testing
    adjusted = checks.adjust_p_values([r.measure.p_value for r in results], testing.method)
    evaluations = []
    features = monitor.all_features()
    for result, p_adjusted in zip(results, adjusted):
        value, ladder = result.measure.value, result.ladder
        importance = spec.importance if (spec := features.get(result.feature)) else 1.0
        severity = "ok" if value is None else ladder.grade(value * importance)
        notes = [result.measure.detail] if result.measure.detail else []
        if value is not None and importance != 1.0:
            notes.append(f"graded as {_g(value)} × importance {importance:g} = {_g(value * importance)}")
        if severity in ("warning", "critical") and min(result.n_current, result.n_reference) < monitor.min_samples:
            severity = "info"
            notes.append(f"graded info at most: fewer than {monitor.min_samples} samples")
        if severity in ("warning", "critical") and p_adjusted is not None and p_adjusted >= testing.alpha:
            severity = "info"
            notes.append(f"graded info at most: not significant (adjusted p {p_adjusted:.2g} ≥ {testing.alpha:g})")
        evaluations.append(Evaluation(
            monitor=monitor.name, segment=result.segment, feature=result.feature, check=result.check,
            metric=result.metric, severity=severity, window_start=result.current.start,
            window_end=result.current.end, reference_kind=monitor.reference.kind,
            reference_start=result.reference_start, reference_end=result.reference_end, value=value,
            threshold=ladder.threshold_for(severity), n_current=result.n_current,
            n_reference=result.n_reference,
            summary=_summary(result, severity, "; ".join(notes)), emitted_at=emitted_at,
            p_value=result.measure.p_value, p_adjusted=p_adjusted, importance=importance,
            examples=(tuple(result.current.features[result.feature].examples) if result.check == "slo"
                      else result.measure.examples),
        ))
    return evaluations


def _summary(result: _Result, severity: str, detail: str) -> str:
    label = METRIC_LABELS.get(result.metric, result.metric)
    name = "events" if result.feature == MONITOR_WIDE else result.feature
    if result.measure.value is None:
        return f"{name}: {label} not computed: {detail}."
    against = f"against {result.reference}"
    threshold = result.ladder.threshold_for(severity)
    verdict = (f"reaches {severity} (threshold {_g(threshold)})" if severity != "ok" and threshold is not None
               else "is graded info" if severity == "info" else f"is within bounds (below {_g(threshold)})")
    tail = f"; {detail}" if detail else ""
    return f"{name}: {label} {_g(result.measure.value)} {against} {verdict}{tail}."


def _g(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"
