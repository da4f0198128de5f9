"""The `performance` check: a window's realized metric against its reference, as a drop.

The reference is the same kind of thing the monitor's other checks use, read from the labelled
windows: `rolling` the previous windows, `seasonal` the same window a period back, `fixed` the windows
of its range; a `snapshot` holds no labels, so it needs `checks.performance.baseline` (which, when
given, always replaces the reference). The value is reference − current for metrics where higher is
better and current − reference for log loss, MAE and RMSE, so a positive value is always worse.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from stream_guard.core.alerting.alerts import Evaluation
from stream_guard.core.labels.scores import LOWER_IS_BETTER, PerformanceState
from stream_guard.core.topology.model_spec import DEFAULT_METRIC, prediction_name
from stream_guard.core.topology.monitor import MonitorSpec

CHECK = "performance"
LABELS = {"accuracy": "accuracy", "precision": "precision", "recall": "recall", "f1": "F1", "roc_auc": "ROC AUC",
          "log_loss": "log loss", "mae": "MAE", "rmse": "RMSE"}
WindowState = Callable[[int], PerformanceState]   # window start -> its merged state


@dataclass(frozen=True)
class PerformanceReference:
    value: float | None
    labelled: int
    starts: tuple[int, ...]
    description: str
    kind: str


def metric_of(monitor: MonitorSpec) -> str:
    """The metric the monitor's performance check reads (macro F1 for a multiclass `f1`)."""
    assert monitor.model is not None
    return monitor.checks.performance.metric or DEFAULT_METRIC[monitor.model.task]


def feature_of(monitor: MonitorSpec) -> str:
    """The prediction field the check is about: the alerts' `feature`."""
    assert monitor.model is not None
    name = prediction_name(monitor.model, {n: f.type for n, f in monitor.prediction.items()})
    assert name is not None, "the topology checks that the model names its prediction"
    return name


def reference(monitor: MonitorSpec, start: int, window: WindowState,
              announced: Mapping[int, str]) -> PerformanceReference:
    """The labelled windows window `start` is compared with, or the baseline."""
    check, metric, spec = monitor.checks.performance, metric_of(monitor), monitor.reference
    if check.baseline is not None:
        return PerformanceReference(check.baseline, 0, (), f"the baseline {check.baseline:g}", "baseline")
    if spec.kind == "snapshot":
        return PerformanceReference(None, 0, (), "a snapshot, which holds no labels (set "
                                    "checks.performance.baseline)", spec.kind)
    starts = [s for s in _candidates(monitor, start)
              if not (spec.exclude_critical and spec.kind != "fixed" and announced.get(s) == "critical")]
    states = [(s, w) for s in starts if (w := window(s)).labelled]
    if spec.kind == "rolling":
        states = states[:spec.window_count()]
    merged = PerformanceState()
    for _, state in states:
        merged = merged.merged(state)
    needed = spec.needed_windows()
    value = merged.metric(metric) if len(states) >= needed else None
    described = f"the {len(states)} labelled windows before" if spec.kind == "rolling" else \
        f"{len(states)} labelled {spec.kind} reference windows"
    if len(states) < needed:
        described += f" (reference not ready: {len(states)} of {needed} windows)"
    return PerformanceReference(value, merged.labelled, tuple(s for s, _ in states), described, spec.kind)


def _candidates(monitor: MonitorSpec, start: int) -> list[int]:
    spec, size = monitor.reference, monitor.window.size
    if spec.kind == "seasonal":
        assert spec.period is not None
        return [start - k * spec.period for k in range(1, spec.window_count() + 1)]
    if spec.kind == "fixed":
        low, high = spec.range()
        first = low - low % monitor.window.step + (monitor.window.step if low % monitor.window.step else 0)
        return list(range(first, high - size + 1, size))
    # three times as many as wanted: older ones stand in for windows left out as critical or unlabelled
    return [start - k * size for k in range(1, 3 * spec.window_count() + 1)]


def evaluate(monitor: MonitorSpec, start: int, window: WindowState, announced: Mapping[int, str],
             emitted_at: int) -> Evaluation:
    """The performance check of window `start` as its labels stand now."""
    ladder, metric = monitor.checks.performance, metric_of(monitor)
    current = window(start)
    ref = reference(monitor, start, window, announced)
    now = current.metric(metric)
    value = None if now is None or ref.value is None else \
        (now - ref.value if metric in LOWER_IS_BETTER else ref.value - now)
    n_reference = current.labelled if ref.kind == "baseline" else ref.labelled
    graded = ladder.grade(value) if value is not None else "ok"
    severity, note = graded, ""
    if graded in ("warning", "critical") and min(current.labelled, n_reference) < monitor.min_samples:
        severity, note = "info", f"; graded info at most: fewer than {monitor.min_samples} labels"
    return Evaluation(
        monitor=monitor.name, segment="all", feature=feature_of(monitor), check=CHECK, metric=metric,
        severity=severity, window_start=start, window_end=start + monitor.window.size, reference_kind=ref.kind,
        reference_start=min(ref.starts, default=None),
        reference_end=max(ref.starts, default=-monitor.window.size) + monitor.window.size if ref.starts else None,
        value=value, threshold=ladder.threshold_for(severity), n_current=current.labelled, n_reference=n_reference,
        summary=_summary(monitor, metric, current, now, ref, value, graded) + note + ".", emitted_at=emitted_at)


def _summary(monitor: MonitorSpec, metric: str, current: PerformanceState, now: float | None,
             ref: PerformanceReference, value: float | None, severity: str) -> str:
    label = LABELS[metric]
    covered = (f"{current.labelled:,} of {current.predicted:,} predictions labelled so far "
               f"({(current.coverage or 0):.0%})")
    if now is None:
        return f"{feature_of(monitor)}: {label} not computed: {covered}"
    if value is None:
        return f"{feature_of(monitor)}: {label} {now:.3g}, not graded against {ref.description}; {covered}"
    threshold = monitor.checks.performance.threshold_for(severity)
    verdict = (f"reaches {severity} (threshold {threshold:.3g})" if severity != "ok" and threshold is not None
               else f"is within bounds (below {threshold:.3g})" if threshold is not None else "is not graded")
    assert ref.value is not None
    return (f"{feature_of(monitor)}: {label} {now:.3g} against {ref.value:.3g} for {ref.description}: "
            f"a drop of {value:.3g} {verdict}; {covered}")
