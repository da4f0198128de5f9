"""Grading through `replay` on long streams: clean traffic stays quiet, real changes are caught fast.

200 one-minute windows of 1,000 events, 20 numeric features (normal, lognormal, uniform and
integer counts) and 5 categorical ones, the monitor on its default checks and thresholds.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from stream_guard.cli.main import main

WINDOWS, PER_WINDOW, MINUTE = 200, 1_000, 60_000
START = 1_800_000_000_000 - 1_800_000_000_000 % MINUTE
NUMERIC = [f"n{i:02d}" for i in range(20)]
CATEGORICAL = [f"c{i}" for i in range(5)]
SHARES = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.05, 0.05, 0.03, 0.02])
SHIFT_AT, MISSING_AT, HALVED_AT = 50, 80, 120

TOPOLOGY = """version: 1
app: grading
monitors:
  - name: m
    source: {topic: t, timestamp: ts}
    window: {size: 1m, grace: 5s}
""" + "    features:\n" + "".join(f"      {n}: {{type: numeric}}\n" for n in NUMERIC) + "".join(
    f"      {c}: {{type: categorical}}\n" for c in CATEGORICAL)


def stream(path: Path, faults: bool, seed: int = 7) -> Path:
    """The events as JSON Lines; with `faults`: n00 shifts by 0.5 sd from SHIFT_AT on, n01 loses 30%
    of its values from MISSING_AT on, and traffic halves from HALVED_AT on."""
    rng = np.random.default_rng(seed)
    lines = []
    for window in range(WINDOWS):
        count = PER_WINDOW // 2 if faults and window >= HALVED_AT else PER_WINDOW
        columns: dict[str, list[Any]] = {}
        for i, name in enumerate(NUMERIC):
            kind = i % 4
            values = (rng.normal(10, 2, count) if kind == 0 else rng.lognormal(3, 0.8, count) if kind == 1
                      else rng.uniform(0, 100, count) if kind == 2 else rng.poisson(3, count).astype(float))
            if faults and name == "n00" and window >= SHIFT_AT:
                values = values + 0.5 * 2
            column: list[Any] = values.round(3).tolist()
            if faults and name == "n01" and window >= MISSING_AT:
                column = [None if drop else v for v, drop in zip(column, rng.random(count) < 0.3)]
            columns[name] = column
        for name in CATEGORICAL:
            columns[name] = [f"v{k}" for k in rng.choice(len(SHARES), count, p=SHARES)]
        times = START + window * MINUTE + np.sort(rng.integers(0, MINUTE, count))
        for row in range(count):
            event = {"ts": int(times[row]), **{name: columns[name][row] for name in columns}}
            lines.append(orjson.dumps(event))
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def replay(tmp_path: Path, events: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    topology = tmp_path / "t.yaml"
    topology.write_text(TOPOLOGY)
    alerts, evaluations = tmp_path / "a.jsonl", tmp_path / "e.jsonl"
    assert main(["replay", str(topology), str(events), "--alerts-out", str(alerts),
                 "--evaluations-out", str(evaluations), "--quiet"]) == 0
    read = [[orjson.loads(line) for line in p.read_bytes().splitlines()] for p in (alerts, evaluations)]
    return read[0], read[1]


def window(record: dict[str, Any]) -> int:
    from datetime import datetime
    start = datetime.fromisoformat(record["window"]["start"].replace("Z", "+00:00"))
    return (int(start.timestamp() * 1000) - START) // MINUTE


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("clean")
    return replay(tmp, stream(tmp / "events.jsonl", faults=False))


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("faulty")
    return replay(tmp, stream(tmp / "events.jsonl", faults=True))


def test_clean_traffic_gives_at_most_one_warning_and_no_critical(clean: Any) -> None:
    alerts, evaluations = clean
    graded = Counter(e["severity"] for e in evaluations)
    assert graded["critical"] == 0 and graded["warning"] <= 1
    assert [a for a in alerts if a["severity"] == "critical"] == []
    # every window but the last (still open at the end of the file) was evaluated, on every check
    assert len({window(e) for e in evaluations}) == WINDOWS - 1


def test_a_half_sd_mean_shift_is_critical_within_two_windows(faulty: Any) -> None:
    alerts, _ = faulty
    first = min(window(a) for a in alerts if a["feature"] == "n00" and a["severity"] == "critical")
    assert SHIFT_AT <= first <= SHIFT_AT + 1


def test_a_jump_of_missing_values_to_30_percent_is_critical_in_its_first_window(faulty: Any) -> None:
    alerts, _ = faulty
    fired = [(window(a), a["status"]) for a in alerts if (a["feature"], a["check"], a["severity"]) ==
             ("n01", "missing_rate", "critical")]
    assert fired[0] == (MISSING_AT, "firing")


def test_halved_traffic_is_critical_in_its_first_window(faulty: Any) -> None:
    alerts, _ = faulty
    volume = [(window(a), a["severity"], a["status"], a["value"]) for a in alerts if a["check"] == "volume"]
    assert volume[0] == (HALVED_AT, "critical", "firing", pytest.approx(2.0, abs=0.05))


def test_only_the_broken_features_and_volume_alert(faulty: Any) -> None:
    alerts, _ = faulty
    loud = {a["feature"] for a in alerts if a["severity"] in ("warning", "critical")}
    assert loud <= {"n00", "n01", "*"}
