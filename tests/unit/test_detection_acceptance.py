"""stream_guard on the detection benchmark's quick streams, on its default thresholds.

The acceptance asked of it: critical within 2 windows of every sudden change, critical before the
gradual drift reaches 1 reference sd, no critical alert on the controls. It is checked with the
documented setting that meets it, a fixed reference over the first 10 windows (the seasonal control
keeps its seasonal reference; the snapshot scenario its snapshot); with the rolling reference the
gradual drift is critical through `slow_drift`, which the last test pins down. River's Agrawal scenario needs the
peers' virtualenv and is judged by the full run only.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.detection import guard
from benchmarks.detection.scenarios import QUICK, SCENARIOS, Scenario, stream
from benchmarks.detection.scoring import Score, Timeline, score

LOCAL = [s for s in SCENARIOS if not s.external]   # River's generator needs the peers' virtualenv


def param(s: Scenario) -> object:
    return pytest.param(s, id=s.name)


Run = tuple[dict[str, Score], list[dict[str, object]]]


def replayed(s: Scenario, scratch: Path, setting: str) -> Run:
    """The scenario's quick stream replayed under a reference setting: its scores per level and firing records."""
    path = scratch / f"{s.name}.jsonl"
    counts = guard.write_events(path, stream(s, QUICK))
    change = s.change_window(QUICK)
    line = Timeline(counts, [change] if change is not None else [], s.tolerance(QUICK))
    by_level, firing, _ = guard.alarms(s, path, line, setting)
    return {level: score(line, alarms) for level, alarms in by_level.items()}, firing


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Every local scenario's quick stream, with the fixed reference."""
    scratch = tmp_path_factory.mktemp("detection")
    return {s.name: replayed(s, scratch, "fixed") for s in LOCAL}


@pytest.mark.parametrize("s", [param(s) for s in LOCAL if s.kind == "sudden"])
def test_a_sudden_change_is_critical_within_two_windows(s: Scenario, runs: dict[str, Run]) -> None:
    critical = runs[s.name][0]["critical"]
    assert critical.detections == 1
    assert critical.delays_windows[0] <= 1


@pytest.mark.parametrize("s", [param(s) for s in LOCAL if s.kind == "gradual"])
def test_the_gradual_drift_is_critical_before_it_reaches_one_sd(s: Scenario, runs: dict[str, Run]) -> None:
    critical = runs[s.name][0]["critical"]
    assert critical.detections == 1
    assert s.shift_sd(QUICK.before + critical.delays_windows[0], QUICK) < 1.0


@pytest.mark.parametrize("s", [param(s) for s in LOCAL if s.kind == "control"])
def test_a_control_raises_no_critical_alert(s: Scenario, runs: dict[str, Run]) -> None:
    scores, firing = runs[s.name]
    assert [f for f in firing if f["severity"] == "critical"] == []
    assert scores["critical"].false_alarms == 0


def test_every_sudden_change_is_at_least_a_warning_in_its_first_window(runs: dict[str, Run]) -> None:
    delays = {s.name: runs[s.name][0]["warning"].delays_windows for s in LOCAL if s.kind == "sudden"}
    assert delays == {s.name: [0] for s in LOCAL if s.kind == "sudden"}


def test_the_controls_raise_no_warning_either(runs: dict[str, Run]) -> None:
    assert {s.name: runs[s.name][1] for s in LOCAL if s.kind == "control"} == {"control": [], "seasonal_control": []}


def test_with_the_rolling_reference_the_gradual_drift_is_critical_before_one_sd_through_slow_drift(
        tmp_path: Path) -> None:
    s = next(s for s in LOCAL if s.kind == "gradual")
    scores, firing = replayed(s, tmp_path, "rolling")
    assert scores["critical"].detections == 1
    assert s.shift_sd(QUICK.before + scores["critical"].delays_windows[0], QUICK) < 1.0
    assert min((f["window"], f["check"]) for f in firing if f["severity"] == "critical")[1] == "slow_drift"
