"""stream_guard's side: a scenario's events through the `replay` engine, in this process.

One topology serves every scenario: the monitor's default checks and thresholds, the default rolling
reference of the previous 10 windows (graded from 3), and each feature's declared type and range.
Only the seasonal control differs, by its reference (the same hour one day earlier) and its hourly
window, which is what that scenario is about.

An alarm at a level is a `firing` alert record of that severity or worse; resolves are not alarms.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import yaml

from benchmarks.detection.scenarios import START, Scenario
from benchmarks.detection.scoring import Alarm, Timeline, window_alarms
from stream_guard.core.config import Topology
from stream_guard.replay import replay

LEVELS = {"warning": ("warning", "critical"), "critical": ("critical",)}


def topology(s: Scenario) -> Topology:
    """The monitor watching the scenario's features with stream_guard's defaults."""
    def declared(name: str, kind: str) -> dict[str, Any]:
        low_high = s.ranges.get(name)
        return {"type": kind, **({"min": low_high[0], "max": low_high[1]} if low_high else {})}

    predictions = ("score", "label")
    numeric = {n: declared(n, "numeric") for n in s.numeric if n not in predictions}
    categorical = {n: declared(n, "categorical") for n in s.categorical}
    reference = ({"kind": "seasonal", "period": "1d"} if s.seasonal
                 else {"kind": "rolling", "windows": s.reference()["windows"]})
    monitor = {
        "name": "detect",
        "source": {"topic": "events", "timestamp": "ts"},
        "window": {"size": "1h" if s.seasonal else "1m", "grace": "0s"},
        "reference": reference,
        "features": {**numeric, **categorical},
        "prediction": {n: declared(n, "numeric") for n in s.numeric if n in predictions},
    }
    return Topology.model_validate({"version": 1, "app": "detection", "monitors": [monitor]})


def topology_yaml(s: Scenario) -> str:
    """The same topology as YAML, for the results page."""
    data = topology(s).model_dump(mode="json", by_alias=True, exclude_defaults=True)
    return yaml.safe_dump(data, sort_keys=False)


def write_events(path: Path, windows: list[list[dict[str, Any]]]) -> list[int]:
    """The stream as JSON Lines; returns the number of events in each window."""
    with open(path, "wb") as out:
        for events in windows:
            out.write(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return [len(events) for events in windows]


def alarms(s: Scenario, path: Path, timeline: Timeline
           ) -> tuple[dict[str, list[Alarm]], list[dict[str, Any]], list[dict[str, Any]]]:
    """stream_guard's alarms per level on the events of `path`, the firing records themselves, and
    every evaluation of the feature the scenario changes (window, check, value, severity)."""
    firing: list[dict[str, Any]] = []
    evaluations: list[dict[str, Any]] = []

    def on_alert(record: dict[str, Any]) -> None:
        if record["status"] == "firing":
            firing.append({"window": window_index(s, record["window"]["start"]), "feature": record["feature"],
                           "check": record["check"], "severity": record["severity"], "value": record["value"]})

    def on_evaluation(record: dict[str, Any]) -> None:
        if record["feature"] == s.feature:
            evaluations.append({"window": window_index(s, record["window"]["start"]), "check": record["check"],
                                "value": record["value"], "severity": record["severity"]})

    def ignore(record: dict[str, Any]) -> None:
        pass

    replay(topology(s), path, on_alert, on_evaluation, ignore)
    by_level = {level: window_alarms(timeline, sorted({f["window"] for f in firing if f["severity"] in severities}))
                for level, severities in LEVELS.items()}
    return by_level, firing, evaluations


def critical_threshold(s: Scenario, check: str) -> float | None:
    """The default critical threshold of `check` in the benchmark's topology."""
    ladder = getattr(topology(s).monitors[0].checks, check, None)
    return getattr(ladder, "critical", None)


def window_index(s: Scenario, iso: str) -> int:
    start = int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)
    return (start - START) // s.window_ms()
