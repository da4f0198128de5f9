"""A topology mistake found by a check across keys is reported at the line of the key at fault (the
rule, the shared feature used, the prediction), not at the monitor's first line or the file's."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream_guard.core.topology.file import load_topology
from stream_guard.errors import TopologyError

HEAD = """version: 1
app: t
features:
  shared: {type: numeric}
monitors:
  - name: m
    source: {topic: s, timestamp: ts}
    window: {size: 1m}
    features:
      amount: {type: numeric}
"""


def problems(tmp_path: Path, tail: str) -> list[str]:
    path = tmp_path / "t.yaml"
    path.write_text(HEAD + tail)
    with pytest.raises(TopologyError) as caught:
        load_topology(path)
    return [p.removeprefix(f"{path}:") for p in caught.value.problems]


def test_a_rule_naming_no_feature_is_reported_at_its_own_line(tmp_path: Path) -> None:
    assert problems(tmp_path, '    rules:\n      - "amount >= 0"\n      - "nope >= 0"\n') == [
        "13: monitors[0].rules[1]: rule 'nope >= 0' names 'nope', which is not a feature of this monitor (amount)"]


def test_a_broken_rule_on_a_shared_feature_is_reported_at_its_line(tmp_path: Path) -> None:
    assert problems(tmp_path, '    uses: [shared]\n    rules: ["shared >> 1"]\n') == [
        "12: monitors[0].rules[0]: rule 'shared >> 1' compares numeric feature 'shared' with '> 1', not a number"]


def test_using_an_undeclared_shared_feature_is_reported_at_uses(tmp_path: Path) -> None:
    assert problems(tmp_path, "    uses: [nope]\n") == [
        "11: monitors[0].uses: monitor m uses 'nope', which the topology's features: do not declare (shared)"]


def test_a_name_both_feature_and_prediction_is_reported_at_the_prediction(tmp_path: Path) -> None:
    assert problems(tmp_path, "    prediction:\n      amount: {type: numeric}\n") == [
        "12: monitors[0].prediction.amount: ['amount'] named both as a feature and as a prediction"]
