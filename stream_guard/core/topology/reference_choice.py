"""Which named reference each check compares with: what a topology may say about it, and what it may not.

A monitor declares one reference (`reference:`) or several by name (`references:`, the first one
listed being the default); a check names its own with `reference: NAME`, in the monitor's `checks:`
or a feature's (a feature's check that names none takes the monitor's choice for that check).
"""

from __future__ import annotations

import difflib

from stream_guard.core.topology.check_specs import ChecksSpec, FeatureChecks, SeverityLadder
from stream_guard.core.topology.durations import format_duration
from stream_guard.core.topology.model_spec import Problem
from stream_guard.core.topology.monitor import MonitorSpec

NO_REFERENCE = {"freshness": "freshness reads the worker's clock and compares with no reference",
                "performance": "performance is judged against the monitor's first reference",
                "estimated_performance": "estimated_performance is judged against the monitor's first reference",
                "multivariate": "multivariate compares with the PCA of the monitor's first reference, which must be "
                                "the snapshot: list it first"}


def check_reference(monitor: MonitorSpec, check: str, own: SeverityLadder | None = None) -> str:
    """The name of the reference `check` uses: the feature's choice (`own`), else the monitor's, else the
    default (the first named reference, or the single one)."""
    chosen = (own.reference if own is not None else None) or getattr(monitor.checks, check).reference
    return chosen or monitor.default_reference()


def reference_problems(monitor: MonitorSpec) -> list[Problem]:
    """What does not fit in a monitor's references and its checks' choices of them, each at its key."""
    problems: list[Problem] = []
    if monitor.references and "reference" in monitor.model_fields_set:
        problems.append((("references",), "give either reference: (one) or references: (several, by name), "
                                          "not both"))
    if "references" in monitor.model_fields_set and not monitor.references:
        problems.append((("references",), "name at least one reference, e.g. references: {recent: {kind: rolling}}"))
    for name, reference in monitor.references.items():
        if reference.period is not None and reference.period % monitor.window.step:
            problems.append((("references", name, "period"),
                             f"period {format_duration(reference.period)} is not a multiple of the window size "
                             f"{format_duration(monitor.window.size)}"))
    problems += _choices(monitor, ("checks",), monitor.checks)
    for feature, spec in monitor.all_features().items():
        where = ("uses",) if feature in monitor.uses else (
            ("prediction" if feature in monitor.prediction else "features"), feature, "checks")
        problems += _choices(monitor, where, spec.checks)
    return problems


def _choices(monitor: MonitorSpec, where: tuple[str, ...], checks: ChecksSpec | FeatureChecks) -> list[Problem]:
    problems: list[Problem] = []
    for check in type(checks).model_fields:
        ladder = getattr(checks, check)
        name = ladder.reference if ladder is not None else None
        if name is None:
            continue
        at = (*where, check, "reference") if where != ("uses",) else where
        if check in NO_REFERENCE:
            problems.append((at, f"{NO_REFERENCE[check]}; leave reference out"))
        elif not monitor.references:
            problems.append((at, f"{check} names reference {name!r}, but the monitor has no named references: "
                                 f"declare them under references: (e.g. references: {{recent: {{kind: rolling}}, "
                                 f"{name}: {{kind: snapshot, name: ...}}}})"))
        elif name not in monitor.references:
            close = difflib.get_close_matches(name, list(monitor.references), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append((at, f"unknown reference {name!r}{hint} (the monitor's references: "
                                 f"{', '.join(monitor.references)})"))
        elif check == "slow_drift" and monitor.references[name].kind != "rolling":
            problems.append((at, f"slow_drift watches a rolling reference follow the data; {name!r} is "
                                 f"{monitor.references[name].kind}"))
    return problems
