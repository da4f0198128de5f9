"""Declared schemas and rules: each record is checked, violations are counted per window with
examples, and the `slo` check grades their rate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from stream_guard.core.decoding.schema import build_column
from stream_guard.core.engine import MonitorEngine
from stream_guard.core.topology.rules import parse_rule

from .builders import monitor, records
from .test_topology_file import MINIMAL, problems_of


def close_all(engine: MonitorEngine) -> tuple[list[Any], list[dict[str, Any]]]:
    evaluations, alerts = [], []
    for start in engine.due_windows():
        result = engine.close_window(start, engine.local_profiles(start), emitted_at=0)
        evaluations += result.evaluations
        alerts += result.alerts
    return evaluations, alerts


def test_negative_ages_against_an_age_rule_show_in_the_violation_rate_and_grade_as_configured() -> None:
    spec = monitor(features={"age": {"type": "numeric", "field": "f.age"}}, rules=["age >= 0"],
                   checks={"slo": {"warning": 0.01, "critical": 0.05}})
    engine = MonitorEngine(spec)
    # window 0: no negative age; window 1: 2 of 100 (2%); window 2: 10 of 100 (10%); window 3 closes them
    bad = {0: 0, 1: 2, 2: 10, 3: 0}
    engine.fold(records([{"ts": w * 60 + i * 0.5, "f": {"age": -3 - i if i < bad[w] else 30 + i % 7}}
                         for w in range(4) for i in range(100)]))
    evaluations, alerts = close_all(engine)
    slo = [(e.window_start // 60_000, e.value, e.severity) for e in evaluations if e.check == "slo"]
    assert slo == [(0, 0.0, "ok"), (1, 0.02, "warning"), (2, 0.1, "critical")]
    fired = [a for a in alerts if a["check"] == "slo"]
    assert [(a["status"], a["severity"]) for a in fired] == [("firing", "warning"), ("firing", "critical")]
    assert fired[1]["examples"] == ["-3", "-4", "-5"]
    assert fired[1]["metric"] == "violation_rate"
    assert "10 of 100 events break the schema or rules; e.g. -3, -4, -5" in fired[1]["summary"]


def test_features_without_a_schema_get_no_slo_check() -> None:
    engine = MonitorEngine(monitor(features={"x": {"type": "numeric", "field": "f.x"}}))
    engine.fold(records([{"ts": w * 60 + i, "f": {"x": i}} for w in range(2) for i in range(10)]))
    evaluations, _ = close_all(engine)
    assert "slo" not in {e.check for e in evaluations}


@pytest.mark.parametrize(("spec", "values", "broken"), [
    ({"type": "integer"}, [1, 2.5, 3.0, None, "7"], [False, True, False, False, True]),
    ({"type": "numeric", "required": True}, [1, None, 2.0], [False, True, False]),
    ({"type": "numeric", "nullable": False}, [None, 0], [True, False]),
    ({"type": "numeric", "min": 0, "max": 10}, [-1, 0, 10, 11, float("nan")], [True, False, False, True, False]),
    ({"type": "boolean"}, [True, False, "yes", None, 1], [False, False, True, False, True]),
    ({"type": "string", "max_length": 3}, ["abc", "abcd", 5, None], [False, True, True, False]),
    ({"type": "categorical", "allowed": ["US", "GB"]}, ["US", "XK", None, "GB"], [False, True, False, False]),
    ({"type": "categorical", "pattern": "[A-Z]{2}"}, ["US", "usa", "X1", "DE"], [False, True, True, False]),
    ({"type": "timestamp"}, ["2026-11-23T10:00:00Z", 1_700_000_000, "soon", None], [False, False, True, False]),
])
def test_each_schema_constraint_marks_exactly_the_records_that_break_it(spec: dict[str, Any], values: list[Any],
                                                                        broken: list[bool]) -> None:
    from stream_guard.core.topology.features import FeatureSpec

    column = build_column(FeatureSpec.model_validate(spec), values)
    assert column.violations is not None
    assert column.violations.tolist() == broken


def test_a_rule_on_a_categorical_feature_compares_values_as_text() -> None:
    spec = monitor(rules=["c != 'test'"])
    (rule,) = spec.parsed_rules()["c"]
    column = build_column(spec.features["c"], ["prod", "test", None], [rule])
    assert column.violations is not None and column.violations.tolist() == [False, True, False]
    assert rule.holds(np.array(["a"])).tolist() == [True]


@pytest.mark.parametrize(("rules", "problem"), [
    ('["agee >= 0"]', "rule 'agee >= 0' names 'agee', which is not a feature of this monitor (basket_value, channel)"),
    ('["basket_value >= zero"]',
     "rule 'basket_value >= zero' compares numeric feature 'basket_value' with 'zero', not a number"),
    ('["basket_value is positive"]',
     "rule 'basket_value is positive' is not `FEATURE OP VALUE` (OP one of >= <= > < == !=), e.g. `age >= 0`"),
    ('["channel > web"]', "rule 'channel > web': a categorical feature can only be compared with == or !="),
])
def test_a_rule_that_cannot_be_checked_is_refused_with_file_and_line(tmp_path: Path, rules: str, problem: str) -> None:
    # at the rule's own line (the monitor's first line before), with its index
    assert problems_of(tmp_path, MINIMAL + f"    rules: {rules}\n") == [f"F:10: monitors[0].rules[0]: {problem}"]


def test_schema_keys_that_do_not_fit_the_type_are_refused(tmp_path: Path) -> None:
    text = MINIMAL.replace("channel: {type: categorical}", "channel: {type: categorical, min: 0}")
    assert problems_of(tmp_path, text) == [
        "F:9: monitors[0].features.channel: min and max apply to numeric features only, not categorical"]
    text = MINIMAL.replace("channel: {type: categorical}", "channel: {type: categorical, pattern: '[a-'}")
    (problem,) = problems_of(tmp_path, text)
    assert problem.startswith("F:9: monitors[0].features.channel.pattern: pattern '[a-' is not a regular expression")


def test_parse_rule_reads_numbers_for_numeric_features() -> None:
    rule = parse_rule("x < 1e3", monitor().all_features())
    assert (rule.feature, rule.op, rule.value) == ("x", "<", 1000.0)


def test_schema_drift_flags_a_new_field_and_a_vanished_one_against_the_reference() -> None:
    spec = monitor(reference={"kind": "rolling", "windows": 3, "min_windows": 2})
    engine = MonitorEngine(spec)

    def event(w: int, i: int) -> dict[str, Any]:
        f: dict[str, Any] = {"x": i % 7, "c": "a", "legacy": 1}       # `legacy` is undeclared but always there
        if w >= 4:
            f["session"] = f"s{i}"                                     # appears in window 4
        if w == 6:
            del f["x"]                                                 # vanishes in window 6
        return {"ts": w * 60 + i * 0.5, "f": f}

    engine.fold(records([event(w, i) for w in range(8) for i in range(100)]))
    evaluations, alerts = close_all(engine)
    drift = [(e.window_start // 60_000, e.value, e.severity) for e in evaluations if e.check == "schema_drift"]
    # windows 0-1: reference not ready; 4: `session` is new; 5: it is in the reference now; 6: `x` vanished
    assert drift == [(0, None, "ok"), (1, None, "ok"), (2, 0.0, "ok"), (3, 0.0, "ok"), (4, 1.0, "warning"),
                     (5, 0.0, "ok"), (6, 1.0, "warning")]
    summaries = [a["summary"] for a in alerts if a["check"] == "schema_drift" and a["status"] == "firing"]
    assert "new fields: f.session (100 events)" in summaries[0]
    assert "no event carries x" in summaries[1]
