"""stream_guard on the detection benchmark's quick streams, on its default thresholds.

The acceptance asked of it: critical within 2 windows of every sudden change, critical before the
gradual drift reaches 1 reference sd, no critical alert on the controls. Two criteria are not met
(see benchmarks/detection/README.md); they are marked as expected failures, strict, so that the
marks go when they are met.
"""

from __future__ import annotations

import pytest

from benchmarks.detection import guard
from benchmarks.detection.scenarios import QUICK, SCENARIOS, Scenario, stream
from benchmarks.detection.scoring import Score, Timeline, score

KNOWN_MISSES = {
    "gradual_drift": "the rolling reference follows the drift: mean_shift stays near 0.25 sd, under critical 0.4",
    "volume_drop": "halved traffic is a volume fold change of 2, under critical 3",
}
LOCAL = [s for s in SCENARIOS if not s.external]   # River's generator needs the peers' virtualenv


def marked(s: Scenario) -> object:
    if s.name in KNOWN_MISSES:
        return pytest.param(s, id=s.name, marks=pytest.mark.xfail(reason=KNOWN_MISSES[s.name], strict=True))
    return pytest.param(s, id=s.name)


Run = tuple[dict[str, Score], list[dict[str, object]]]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Every local scenario's quick stream replayed once: its scores per level and its firing records."""
    scratch = tmp_path_factory.mktemp("detection")
    out = {}
    for s in LOCAL:
        path = scratch / f"{s.name}.jsonl"
        counts = guard.write_events(path, stream(s, QUICK))
        change = s.change_window(QUICK)
        line = Timeline(counts, [change] if change is not None else [], s.tolerance(QUICK))
        by_level, firing, _ = guard.alarms(s, path, line)
        out[s.name] = ({level: score(line, alarms) for level, alarms in by_level.items()}, firing)
    return out


@pytest.mark.parametrize("s", [marked(s) for s in LOCAL if s.kind == "sudden"])
def test_a_sudden_change_is_critical_within_two_windows(s: Scenario, runs: dict[str, Run]) -> None:
    critical = runs[s.name][0]["critical"]
    assert critical.detections == 1
    assert critical.delays_windows[0] <= 1


@pytest.mark.parametrize("s", [marked(s) for s in LOCAL if s.kind == "gradual"])
def test_the_gradual_drift_is_critical_before_it_reaches_one_sd(s: Scenario, runs: dict[str, Run]) -> None:
    critical = runs[s.name][0]["critical"]
    assert critical.detections == 1
    assert s.shift_sd(QUICK.before + critical.delays_windows[0], QUICK) < 1.0


@pytest.mark.parametrize("s", [marked(s) for s in LOCAL if s.kind == "control"])
def test_a_control_raises_no_critical_alert(s: Scenario, runs: dict[str, Run]) -> None:
    scores, firing = runs[s.name]
    assert [f for f in firing if f["severity"] == "critical"] == []
    assert scores["critical"].false_alarms == 0


def test_every_sudden_change_is_at_least_a_warning_in_its_first_window(runs: dict[str, Run]) -> None:
    delays = {s.name: runs[s.name][0]["warning"].delays_windows for s in LOCAL if s.kind == "sudden"}
    assert delays == {s.name: [0] for s in LOCAL if s.kind == "sudden"}


def test_the_controls_raise_no_warning_either(runs: dict[str, Run]) -> None:
    assert {s.name: runs[s.name][1] for s in LOCAL if s.kind == "control"} == {"control": [], "seasonal_control": []}
