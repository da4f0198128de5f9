"""Checks a topology configures that can never run on their monitor, for `stream-guard validate` to warn of.

These are warnings, not errors: the topology loads and the rest of the monitor runs. A configuration
that contradicts itself outright (thresholds for `performance` on a monitor without `labels:`, or
`estimated_performance` without a binary model) is an error of the topology instead
(`core.topology.model_spec`). Only checks the file names are looked at: a default check that cannot
run (performance on a monitor without labels) stays silent.

>>> from stream_guard.core.topology.monitor import MonitorSpec
>>> spec = MonitorSpec.model_validate({"name": "m", "source": {"topic": "t", "timestamp": "ts"},
...     "window": {"size": "1m"}, "features": {"x": {"type": "numeric"}, "y": {"type": "numeric"}},
...     "checks": {"multivariate": {"warning": 0.1}}})
>>> [(where, message[:36]) for where, message in monitor_findings(spec)]
[(('checks', 'multivariate'), 'never runs under a rolling reference')]
"""

from __future__ import annotations

from stream_guard.core.profiles.multivariate import model_features
from stream_guard.core.topology.model_spec import Problem
from stream_guard.core.topology.monitor import MonitorSpec
from stream_guard.core.topology.topology import Topology
from stream_guard.core.topology.yaml_tree import Loc

Finding = tuple[Loc, str]   # (location from the topology's root, message)


def never_run(topology: Topology) -> list[Finding]:
    """Every check the file configures that its monitor can never run, at the check's key."""
    return [(("monitors", index, *where), message)
            for index, monitor in enumerate(topology.monitors) for where, message in monitor_findings(monitor)]


def monitor_findings(monitor: MonitorSpec) -> list[Problem]:
    """One monitor's configured checks that can never run on it (locations below the monitor)."""
    written = monitor.checks.model_fields_set
    findings: list[Problem] = []
    if "performance" in written and monitor.checks.performance.enabled and monitor.labels is None:
        findings.append((("checks", "performance"), "never runs: the monitor declares no labels: to judge its "
                         "predictions against; add labels: and model: (see docs/checks.md), or remove the check"))
    if "multivariate" in written and monitor.checks.multivariate.enabled:
        findings += [(("checks", "multivariate"), message) for message in _multivariate(monitor)]
    return findings


def _multivariate(monitor: MonitorSpec) -> list[str]:
    kind = monitor.reference.kind
    if kind != "snapshot":
        return [f"never runs under a {kind} reference: it compares the window with the PCA that a snapshot "
                "reference holds (reference: {kind: snapshot, name: ...}, built by `stream-guard reference "
                "build`); use one, or remove the check"]
    numeric = model_features(monitor)
    if len(numeric) < 2:
        has = f"one ({numeric[0]})" if numeric else "none"
        return [f"never runs: a snapshot holds a PCA only of two numeric features or more (type numeric or "
                f"integer, prediction fields left out), and this monitor has {has}"]
    return []
