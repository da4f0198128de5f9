"""`estimated_performance` on a long clean stream and on shifted ones: false alarms, error and cost.

    .venv/bin/python benchmarks/estimated_noise.py [--windows 10000] [--per-window 1000]

The traffic is `stream_guard.offline.score_scenario`'s overconfident binary model. Each window's
scores are folded into a KLL sketch as the worker does, and the check is computed by the same code
(`core.judging.estimated.estimated_drop`) under two references: a snapshot of 50,000 labelled
training rows (its isotonic calibration) and a rolling reference of the previous 10 windows (no
labels: the scores taken as calibrated). The labels are drawn too, never shown to the check, so each
window's estimate can be compared with the metric the model really had.

Grading is the engine's: the thresholds, then at most info unless the check's p-value is below the
monitor's alpha (0.01; taken unadjusted, so the counts are an upper bound). Prints, per metric and
reference: on clean windows the windows graded warning or worse and critical per 10,000, the
largest value, and the estimate's error against the realized metric (mean and 95th percentile of
|error|); then the mean value and the shares graded warning or worse and critical as the
scores slide to 0.5 (uncertainty 0.1, 0.2, 0.3, 0.6); then the time of one evaluation.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, deque
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stream_guard.core.judging.estimated import calibration_of, estimate, estimated_drop  # noqa: E402
from stream_guard.core.judging.references import Reference  # noqa: E402
from stream_guard.core.labels.calibration import ESTIMATED_METRICS  # noqa: E402
from stream_guard.core.labels.scores import PerformanceState  # noqa: E402
from stream_guard.core.profiles.profile import NumericProfile  # noqa: E402
from stream_guard.core.profiles.snapshot import build_snapshot  # noqa: E402
from stream_guard.core.topology.monitor import MonitorSpec  # noqa: E402
from stream_guard.offline.score_scenario import OVERCONFIDENCE, SPREAD, training_rows  # noqa: E402

ROLLING = 10
SHIFTS = (0.1, 0.2, 0.3, 0.6)


def monitor(metric: str) -> MonitorSpec:
    return MonitorSpec.model_validate({
        "name": "est", "source": {"topic": "t", "timestamp": "ts"}, "window": {"size": "1m"},
        "features": {"x": {"type": "numeric"}}, "prediction": {"score": {"type": "numeric"}},
        "model": {"task": "binary"}, "checks": {"estimated_performance": {"metric": metric, "label": "label"}}})


def window(rng: np.random.Generator, n: int, uncertainty: float) -> tuple[NumericProfile, PerformanceState]:
    z = rng.normal(0.0, SPREAD, n) * (1 - uncertainty)
    labels = rng.random(n) < 1 / (1 + np.exp(-z))
    scores = 1 / (1 + np.exp(-OVERCONFIDENCE * z))
    profile = NumericProfile()
    profile.sketch.update(scores)
    realized = PerformanceState()
    for score, label in zip(scores.tolist(), labels.tolist()):
        realized.add_binary(score, label, 0.5)
    return profile, realized


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", type=int, default=10_000)
    parser.add_argument("--per-window", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    monitors = {m: monitor(m) for m in ESTIMATED_METRICS}
    snapshot = build_snapshot(monitors["accuracy"], [training_rows(rng, 50_000)], "train", "train.jsonl", 0)
    snap_ref = Reference((), snapshot.profile.features["score"], snapshot.rows, 0, "snapshot", snapshot)
    calibration = calibration_of(snap_ref)[0]
    graded: dict[tuple[str, str], Counter[str]] = {k: Counter() for k in _keys(monitors)}
    largest: dict[tuple[str, str], float] = dict.fromkeys(graded, 0.0)
    errors: dict[tuple[str, str], list[float]] = {k: [] for k in graded}
    recent: deque[NumericProfile] = deque(maxlen=ROLLING)
    spent, evaluations = 0.0, 0
    for w in range(args.windows + ROLLING):
        current, realized = window(rng, args.per_window, 0.0)
        if len(recent) == ROLLING:
            rolling = Reference((), _merged(recent), 0, 0, "rolling")
            for metric, spec in monitors.items():
                for name, ref in (("snapshot", snap_ref), ("rolling", rolling)):
                    began = time.perf_counter()
                    measure = estimated_drop(spec, current, ref)
                    spent += time.perf_counter() - began
                    evaluations += 1
                    value = measure.value or 0.0
                    graded[(metric, name)][_graded(spec, value, measure.p_value)] += 1
                    largest[(metric, name)] = max(largest[(metric, name)], value)
                    truth = realized.metric(metric)
                    if truth is not None and name == "snapshot":
                        errors[(metric, name)].append(estimate(current, calibration, metric, 0.5) - truth)  # type: ignore[operator]
        recent.append(current)
        if w % 2000 == 0:
            print(f"{w:,} windows", file=sys.stderr, flush=True)
    _print_clean(args, graded, largest, errors)
    _print_shifts(rng, args.per_window, monitors, snap_ref)
    print(f"\none evaluation (both estimates, {args.per_window:,}-event window): "
          f"{spent / evaluations * 1000:.2f} ms on average over {evaluations:,}")


def _graded(spec: MonitorSpec, value: float, p_value: float | None) -> str:
    """As the engine grades: the thresholds, then at most info unless p < alpha (unadjusted here, an upper
    bound on alarms: the monitor's correction over all its tests only raises p)."""
    severity = spec.checks.estimated_performance.grade(value)
    if severity in ("warning", "critical") and p_value is not None and p_value >= spec.multiple_testing.alpha:
        return "info"
    return severity


def _keys(monitors: dict[str, MonitorSpec]) -> list[tuple[str, str]]:
    return [(m, r) for m in monitors for r in ("snapshot", "rolling")]


def _merged(profiles: deque[NumericProfile]) -> NumericProfile:
    merged = profiles[0]
    for p in list(profiles)[1:]:
        merged = merged.merged(p)
    return merged


def _print_clean(args: argparse.Namespace, graded: dict[tuple[str, str], Counter[str]],
                 largest: dict[tuple[str, str], float], errors: dict[tuple[str, str], list[float]]) -> None:
    print(f"{args.windows:,} clean windows of {args.per_window:,} scores; per 10,000 windows:\n")
    print("| metric | reference | warning or worse | critical | largest value | mean error | p95 abs error |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for (metric, name), counts in graded.items():
        total = sum(counts.values())
        loud = (counts["warning"] + counts["critical"]) * 10_000 / total
        err = np.asarray(errors[(metric, name)])
        error = f"{err.mean():+.4f} | {np.quantile(np.abs(err), 0.95):.4f}" if len(err) else "n/a | n/a"
        print(f"| {metric} | {name} | {loud:.1f} | {counts['critical'] * 10_000 / total:.1f} | "
              f"{largest[(metric, name)]:.3f} | {error} |")


def _print_shifts(rng: np.random.Generator, n: int, monitors: dict[str, MonitorSpec], snap_ref: Reference) -> None:
    print("\nscores sliding to 0.5, against the snapshot, 200 windows each: mean value (realized drop), "
          "share warning or worse / critical\n")
    print("| metric | " + " | ".join(f"u = {u}" for u in SHIFTS) + " |")
    print("|---|" + "---:|" * len(SHIFTS))
    base = {m: _realized(np.random.default_rng(0), 0.0, m) for m in monitors}
    for metric, spec in monitors.items():
        cells = []
        for u in SHIFTS:
            measures = [estimated_drop(spec, window(rng, n, u)[0], snap_ref) for _ in range(200)]
            values = [m.value or 0.0 for m in measures]
            grades = [_graded(spec, m.value or 0.0, m.p_value) for m in measures]
            loud = np.mean([g in ("warning", "critical") for g in grades])
            critical = np.mean([g == "critical" for g in grades])
            drop = base[metric] - _realized(np.random.default_rng(1), u, metric)
            cells.append(f"{np.mean(values):.3f} ({drop:.3f}), {loud:.0%} / {critical:.0%}")
        print(f"| {metric} | " + " | ".join(cells) + " |")


def _realized(rng: np.random.Generator, uncertainty: float, metric: str) -> float:
    """The metric the model really has at `uncertainty`, over 200,000 events."""
    _, state = window(rng, 200_000, uncertainty)
    value = state.metric(metric)
    assert value is not None
    return value


if __name__ == "__main__":
    main()
