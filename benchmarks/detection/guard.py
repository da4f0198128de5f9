"""stream_guard's side: a scenario's events through the `replay` engine, in this process.

One topology serves every scenario: the monitor's default checks and thresholds, each feature's
declared type and range, and one of two reference settings:

- `rolling`: the previous 10 windows (graded from 3), what a monitor uses when nobody froze a baseline;
- `fixed`: the stream's first 10 windows, frozen (`{kind: fixed, start, end}`), as a team would freeze
  a known-good period or its training data; every scenario has at least 10 windows before its change.

Only the seasonal control differs, under both settings, by its reference (the same hour one day
earlier) and its hourly window, which is what that scenario is about.

An alarm at a level is a `firing` alert record of that severity or worse; resolves are not alarms.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import yaml

from benchmarks.detection.scenarios import START, Scenario
from benchmarks.detection.scoring import Alarm, Timeline, window_alarms
from stream_guard.core.profiles.snapshot import Snapshot
from stream_guard.core.topology.monitor import MonitorSpec
from stream_guard.core.topology.topology import Topology
from stream_guard.offline.references import build_from_file
from stream_guard.offline.replay import replay

LEVELS = {"warning": ("warning", "critical"), "critical": ("critical",)}
SETTINGS = ("rolling", "fixed")
FIXED_WINDOWS = 10     # the fixed reference: the first 10 windows of every stream
SNAPSHOT = "first-windows"   # the snapshot scenarios' reference: the first 10 windows, profiled


def reference(s: Scenario, setting: str) -> dict[str, Any]:
    """The reference of the scenario's monitor under a setting (the seasonal control's is always seasonal)."""
    if s.seasonal:
        return {"kind": "seasonal", "period": "1d"}
    if s.snapshot:
        return {"kind": "snapshot", "name": SNAPSHOT}
    if setting == "fixed":
        return {"kind": "fixed", "start": _iso(START), "end": _iso(START + FIXED_WINDOWS * s.window_ms())}
    return {"kind": "rolling", "windows": s.reference()["windows"]}


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def topology(s: Scenario, setting: str = "rolling") -> Topology:
    """The monitor watching the scenario's features with stream_guard's defaults."""
    def declared(name: str, kind: str) -> dict[str, Any]:
        low_high = s.ranges.get(name)
        return {"type": kind, **({"min": low_high[0], "max": low_high[1]} if low_high else {})}

    predictions = ("score", "label")
    numeric = {n: declared(n, "numeric") for n in s.numeric if n not in predictions}
    categorical = {n: declared(n, "categorical") for n in s.categorical}
    monitor = {
        "name": "detect",
        "source": {"topic": "events", "timestamp": "ts"},
        "window": {"size": "1h" if s.seasonal else "1m", "grace": "0s"},
        "reference": reference(s, setting),
        "features": {**numeric, **categorical},
        "prediction": {n: declared(n, "numeric") for n in s.numeric if n in predictions},
        **({"model": {"task": "binary"}, "checks": {"estimated_performance": {}}} if s.estimated else {}),
    }
    return Topology.model_validate({"version": 1, "app": "detection", "monitors": [monitor]})


def topology_yaml(s: Scenario, setting: str = "rolling") -> str:
    """The same topology as YAML, for the results page."""
    data = topology(s, setting).model_dump(mode="json", by_alias=True, exclude_defaults=True)
    return yaml.safe_dump(data, sort_keys=False)


def write_events(path: Path, windows: list[list[dict[str, Any]]]) -> list[int]:
    """The stream as JSON Lines; returns the number of events in each window."""
    with open(path, "wb") as out:
        for events in windows:
            out.write(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return [len(events) for events in windows]


def alarms(s: Scenario, path: Path, timeline: Timeline, setting: str = "rolling"
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

    spec = topology(s, setting)
    snapshots = {"detect": first_windows(s, spec.monitors[0], path)} if s.snapshot else None
    replay(spec, path, on_alert, on_evaluation, ignore, snapshots=snapshots)
    by_level = {level: window_alarms(timeline, sorted({f["window"] for f in firing if f["severity"] in severities}))
                for level, severities in LEVELS.items()}
    return by_level, firing, evaluations


def first_windows(s: Scenario, monitor: MonitorSpec, path: Path) -> Snapshot:
    """A snapshot of the stream's first FIXED_WINDOWS windows, as `reference build` would make it."""
    end = START + FIXED_WINDOWS * s.window_ms()
    train = path.with_suffix(".train.jsonl")
    with open(path, "rb") as source, open(train, "wb") as out:
        out.writelines(line for line in source if orjson.loads(line)["ts"] < end)
    return build_from_file(monitor, train, SNAPSHOT)[0]


def critical_threshold(s: Scenario, check: str) -> float | None:
    """The default critical threshold of `check` in the benchmark's topology."""
    ladder = getattr(topology(s).monitors[0].checks, check, None)
    return getattr(ladder, "critical", None)


def window_index(s: Scenario, iso: str) -> int:
    start = int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)
    return (start - START) // s.window_ms()
