"""The detection benchmark's label scenarios: what a run reports, and the page section it rewrites."""

from __future__ import annotations

from pathlib import Path

from benchmarks.detection.performance import BEGIN, END, SCENARIOS, replace_section, run_one


def test_an_accuracy_drop_is_critical_in_its_own_window_and_the_control_raises_nothing(tmp_path: Path) -> None:
    drop, control = SCENARIOS[0], next(s for s in SCENARIOS if s.name == "performance_control")
    found = run_one(drop, per_window=600, before=12, after=2, seed=11, scratch=tmp_path)
    assert found["first"]["critical"]["window"] == 1
    assert found["false_alarms"] == {"warning": 0, "critical": 0} and found["other_checks"] == []
    assert found["accuracy"][0] - found["accuracy"][1] > 0.15
    quiet = run_one(control, per_window=600, before=12, after=2, seed=11, scratch=tmp_path)
    assert quiet["first"] == {"warning": None, "critical": None} and quiet["false_alarms"]["warning"] == 0


def test_the_section_is_replaced_between_its_markers_or_added_at_the_end() -> None:
    page = f"# Page\n\n{BEGIN}\nold\n{END}\n\n## After\n"
    assert replace_section(page, [BEGIN, "new", END]) == f"# Page\n\n{BEGIN}\nnew\n{END}\n\n## After\n"
    assert replace_section("# Page\n", [BEGIN, "new", END]) == f"# Page\n\n{BEGIN}\nnew\n{END}\n"
