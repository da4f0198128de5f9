"""Shared features: declared once, watched by several monitors (models), alerting once with their
downstream named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from stream_guard.cli.main import main
from stream_guard.offline import scenario

from .test_topology_file import problems_of

START = 1_800_000_000_000 - 1_800_000_000_000 % 60_000

TOPOLOGY = """version: 1
app: shared
features:
  amount: {type: numeric, field: features.amount, min: 0}
monitors:
  - name: fraud-model
    source: {topic: payments, timestamp: ts}
    window: {size: 1m}
    reference: {windows: 5}
    uses: [amount]
    features:
      age: {type: numeric, field: features.age}
  - name: churn-model
    source: {topic: payments, timestamp: ts}
    window: {size: 1m}
    reference: {windows: 5}
    uses: [amount]
    features:
      country: {type: categorical, field: features.country}
  - name: ltv-model
    source: {topic: payments-eu, timestamp: ts}
    window: {size: 1m}
    reference: {windows: 5}
    uses: [amount]
"""


def replay(tmp_path: Path, text: str) -> list[dict[str, Any]]:
    (tmp_path / "t.yaml").write_text(text)
    events = tmp_path / "e.jsonl"
    events.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in scenario.stream(11, START, 1200)))
    assert main(["replay", str(tmp_path / "t.yaml"), str(events), "--alerts-out", str(tmp_path / "a.jsonl"),
                 "--quiet"]) == 0
    return [orjson.loads(line) for line in (tmp_path / "a.jsonl").read_bytes().splitlines()]


def test_a_shared_feature_breaking_alerts_once_per_source_naming_every_monitor_downstream(tmp_path: Path) -> None:
    alerts = replay(tmp_path, TOPOLOGY)
    everyone = ["fraud-model", "churn-model", "ltv-model"]
    amount = {name: [(a["check"], a["status"], a["monitors"]) for a in alerts
                     if a["feature"] == "amount" and a["monitor"] == name] for name in everyone}
    sequence = [("numeric_drift", "firing", everyone), ("mean_shift", "firing", everyone),
                ("outside_reference", "firing", everyone), ("numeric_drift", "resolved", everyone),
                ("mean_shift", "resolved", everyone), ("outside_reference", "resolved", everyone)]
    # fraud-model publishes for the `payments` topic (churn-model reads the same events), ltv-model for its own
    assert amount == {"fraud-model": sequence, "churn-model": [], "ltv-model": sequence}
    # the monitors' own features alert as usual, without a `monitors` list
    own = {(a["monitor"], a["feature"]) for a in alerts if a["feature"] != "amount" and a["status"] == "firing"}
    assert own == {("fraud-model", "age"), ("churn-model", "country")}
    assert all("monitors" not in a for a in alerts if a["feature"] != "amount")


def test_using_an_undeclared_shared_feature_is_refused(tmp_path: Path) -> None:
    text = TOPOLOGY.replace("uses: [amount]\n    features:\n      age",
                            "uses: [amount, tenure]\n    features:\n      age")
    assert problems_of(tmp_path, text) == [
        "F:10: monitors[0].uses: monitor fraud-model uses 'tenure', which the topology's features: do not declare "
        "(amount)"]


def test_a_monitor_needs_a_feature_of_its_own_or_a_shared_one(tmp_path: Path) -> None:
    text = """version: 1
app: shared
monitors:
  - name: empty
    source: {topic: payments, timestamp: ts}
    window: {size: 1m}
"""
    assert problems_of(tmp_path, text) == [
        "F:4: monitors[0]: a monitor needs at least one feature, of its own (features:) or shared (uses:)"]
