"""`stream-guard calibrate`: thresholds proposed from clean history for a target false-alarm rate.

Replay the history, collect each check's values over every window where its reference was ready,
and place the thresholds where clean windows would cross them at the target rate: warning at
`rate` (say 1 in 1,000 windows per feature), critical at `rate / 100`.

A few hundred windows cannot show a 1-in-1,000 tail directly, so the tail is extrapolated: the
square root of each check's excess over its floor is close to normal for these statistics
(chi-square-like distances, absolute shifts), so a threshold is `floor + (mean + z * sd)²` of
that root, with z the normal quantile for the rate. The empirical maximum is printed beside it.

The `cusum` check accumulates, so its values are not independent windows: its thresholds are set for
a run length instead, one warning per `1 / rate` clean windows and one critical per `100 / rate`, from
the spread of the windows' own mean shifts (`window_shift_sd`, their root mean square) and the
monitor's allowance, through Siegmund's approximation (`core.judging.sequential`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from stream_guard.core.judging.sequential import threshold_for

FLOORS = {"events_fold_change": 1.0, "distinct_fold_change": 1.0}   # the value of "no change" where not 0
MIN_VALUES = 30
DRIFT_CHECKS = ("numeric_drift", "categorical_drift")


@dataclass(frozen=True)
class Proposal:
    monitor: str
    check: str
    metric: str
    values: int
    observed_max: float
    warning: float | None
    critical: float | None
    note: str = ""
    allowance: float | None = None   # cusum: the allowance its thresholds were set for


def propose(evaluations: Iterable[dict[str, Any]], rate: float,
            allowances: Mapping[str, float] | None = None) -> list[Proposal]:
    """One proposal per (monitor, check, metric), pooling the values of every feature; `allowances` gives
    each monitor's `cusum` allowance (0.05 when not given)."""
    pooled: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for record in evaluations:
        value = record.get("window_shift_sd") if record["check"] == "cusum" else record.get("value")
        if value is not None:
            pooled[(record["monitor"], record["check"], record["metric"])].append(float(value))
    return [_run_length(monitor, metric, values, rate, (allowances or {}).get(monitor, 0.05)) if check == "cusum"
            else _proposal(monitor, check, metric, values, rate)
            for (monitor, check, metric), values in sorted(pooled.items())]


def _run_length(monitor: str, metric: str, shifts: list[float], rate: float, allowance: float) -> Proposal:
    """The cusum thresholds whose run lengths on windows like these are 1 / rate and 100 / rate."""
    if len(shifts) < MIN_VALUES:
        return Proposal(monitor, "cusum", metric, len(shifts), 0.0, None, None,
                        f"only {len(shifts)} values; need {MIN_VALUES} windows x features at least")
    sigma = float(np.sqrt(np.mean(np.square(shifts))))
    largest = float(np.abs(shifts).max())
    if sigma == 0:
        return Proposal(monitor, "cusum", metric, len(shifts), largest, None, None,
                        "the window means never moved; keep the defaults")
    return Proposal(monitor, "cusum", metric, len(shifts), largest, threshold_for(1 / rate, allowance, sigma),
                    threshold_for(100 / rate, allowance, sigma),
                    f"run lengths {round(1 / rate):,} and {round(100 / rate):,} windows at shifts of "
                    f"{sigma:.3g} sd (rms)", allowance)


def _proposal(monitor: str, check: str, metric: str, values: list[float], rate: float) -> Proposal:
    data = np.asarray(values)
    floor = FLOORS.get(metric, 0.0)
    observed = float(data.max())
    if len(data) < MIN_VALUES:
        return Proposal(monitor, check, metric, len(data), observed, None, None,
                        f"need {MIN_VALUES} values at least (windows × features)")
    roots = np.sqrt(np.clip(data - floor, 0.0, None))
    if not roots.any():
        return Proposal(monitor, check, metric, len(data), observed, None, None,
                        "never moved off its floor in this history; keep the defaults")
    warning = floor + _tail(roots, rate) ** 2
    critical = max(floor + _tail(roots, rate / 100) ** 2, floor + 1.5 * (warning - floor))
    return Proposal(monitor, check, metric, len(data), observed, _round(warning), _round(critical))


def _tail(roots: np.ndarray, rate: float) -> float:
    z = NormalDist().inv_cdf(1 - rate)
    return float(roots.mean() + z * roots.std(ddof=1))


def _round(value: float) -> float:
    """Two significant digits, rounded up so the threshold stays above the estimate."""
    if value <= 0:
        return 0.0
    scale = 10 ** (math.floor(math.log10(value)) - 1)
    return float(round(math.ceil(value / scale) * scale, 10))


def as_yaml(proposals: list[Proposal], source: str, windows: int, rate: float) -> str:
    """The proposals as topology YAML to paste under each monitor, with what they rest on."""
    lines = [f"# stream-guard calibrate: {windows} windows of {source}; target: at most one warning per "
             f"{round(1 / rate):,} windows per feature, one critical per {round(100 / rate):,}",
             "monitors:"]
    by_monitor: dict[str, list[Proposal]] = defaultdict(list)
    for proposal in proposals:
        by_monitor[proposal.monitor].append(proposal)
    for monitor, items in by_monitor.items():
        lines += [f"  - name: {monitor}", "    checks:"]
        for p in items:
            basis = f"# {p.values:,} values, largest seen {p.observed_max:.3g}"
            if p.warning is None:
                lines.append(f"      # {p.check}: no proposal: {p.note}" + (f" ({basis[2:]})" if p.values else ""))
                continue
            metric = (f"metric: {p.metric}, " if p.check in DRIFT_CHECKS else
                      f"metric: {p.metric.removeprefix('estimated_')}, " if p.check == "estimated_performance" else "")
            if p.check == "cusum":   # on only when enabled; its basis: the windows' own shifts
                metric = f"enabled: true, allowance: {p.allowance:g}, "
                basis = f"# {p.values:,} windows' shifts, largest {p.observed_max:.3g} sd; {p.note}"
            lines.append(f"      {p.check}: {{{metric}warning: {p.warning:g}, critical: {p.critical:g}}}  {basis}")
    return "\n".join(lines) + "\n"


def with_never_computed(proposals: list[Proposal], evaluations: Iterable[dict[str, Any]]) -> list[Proposal]:
    """`proposals` and, for each check that was evaluated but never computed (its reference never
    ready, say), an empty proposal saying why, so that no check is left out without a word."""
    proposed = {(p.monitor, p.check, p.metric) for p in proposals}
    reasons: dict[tuple[str, str, str], str] = {}
    for record in evaluations:
        key = (record["monitor"], record["check"], record["metric"])
        if key not in proposed and record.get("value") is None:
            reasons[key] = _why_not_computed(str(record.get("summary") or ""))
    empty = [Proposal(*key, 0, 0.0, None, None, f"no value in this history: {reason}")
             for key, reason in reasons.items()]
    return sorted(proposals + empty, key=lambda p: (p.monitor, p.check, p.metric))


def _why_not_computed(summary: str) -> str:
    """The reason in an evaluation's summary (`amount: PSI not computed: reference not ready (2 of 3
    windows).`), or a general one when the summary gives none."""
    _, found, reason = summary.partition("not computed: ")
    return reason.rstrip(".") if found and reason else "never computed"
