"""References other than rolling, through `replay`: seasonal, fixed and snapshot ("different from what?")."""

from __future__ import annotations

import csv
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stream_guard.adapters.reference_files import ReadReport, read_rows
from stream_guard.cli.main import main
from stream_guard.core.engine import MonitorEngine
from stream_guard.core.profiles.snapshot import Snapshot, build_snapshot

from .builders import monitor, records

HOUR, DAY = 3_600_000, 86_400_000
START = 1_800_000_000_000 - 1_800_000_000_000 % DAY


def topology(reference: str, window: str = "1h") -> str:
    return f"""version: 1
app: refs
monitors:
  - name: m
    source: {{topic: t, timestamp: ts}}
    window: {{size: {window}, grace: 0s}}
    reference: {reference}
    features:
      load: {{type: numeric, field: f.load}}
      device: {{type: categorical, field: f.device}}
"""


def replay(tmp_path: Path, reference: str, events: list[dict[str, Any]], window: str = "1h") -> list[dict[str, Any]]:
    (tmp_path / "t.yaml").write_text(topology(reference, window))
    (tmp_path / "e.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    out = tmp_path / f"v-{abs(hash(reference))}.jsonl"
    assert main(["replay", str(tmp_path / "t.yaml"), str(tmp_path / "e.jsonl"), "--evaluations-out", str(out),
                 "--quiet"]) == 0
    return [orjson.loads(line) for line in out.read_bytes().splitlines()]


def daily_pattern(days: int, per_hour: int = 400, seed: int = 1) -> list[dict[str, Any]]:
    """Load follows the hour of day (busy afternoons, quiet nights); mobile takes over in the evening."""
    rng = np.random.default_rng(seed)
    events = []
    for hour in range(days * 24):
        of_day = hour % 24
        level = 50 + 30 * math.sin((of_day - 9) / 24 * 2 * math.pi)
        mobile = 0.3 + 0.4 * (of_day >= 18)
        loads = rng.normal(level, 5, per_hour)
        devices = np.where(rng.random(per_hour) < mobile, "mobile", "desktop")
        for i in range(per_hour):
            events.append({"ts": START + hour * HOUR + i * (HOUR // per_hour),
                           "f": {"load": round(float(loads[i]), 2), "device": str(devices[i])}})
    return events


def test_a_seasonal_reference_is_quiet_on_a_daily_pattern_where_a_rolling_one_misfires(tmp_path: Path) -> None:
    events = daily_pattern(days=8)
    week = START + DAY   # the first day has no season to compare with yet
    graded = {}
    for kind, reference in (("seasonal", "{kind: seasonal, period: 1d}"), ("rolling", "{kind: rolling, windows: 6}")):
        evaluations = [e for e in replay(tmp_path, reference, events) if e["window"]["start"] >= iso(week)]
        graded[kind] = Counter(e["severity"] for e in evaluations)
        assert len({e["window"]["start"] for e in evaluations}) == 7 * 24 - 1   # the last hour is still open
    assert graded["seasonal"]["critical"] == 0 and graded["seasonal"]["warning"] <= 1
    assert graded["rolling"]["critical"] >= 7 * 10     # several false criticals every day, from the daily swing


def test_a_seasonal_reference_compares_with_the_same_hour_of_earlier_days(tmp_path: Path) -> None:
    events = daily_pattern(days=4)
    evaluations = replay(tmp_path, "{kind: seasonal, period: 1d, seasons: 2}", events)
    first = [e for e in evaluations if e["feature"] == "load" and e["check"] == "numeric_drift"]
    at = {e["window"]["start"]: e for e in first}
    # day 2 hour 5 has one season before it (not enough for seasons: 2); day 3 hour 5 has two
    assert at[iso(START + DAY + 5 * HOUR)]["value"] is None
    graded = at[iso(START + 2 * DAY + 5 * HOUR)]
    assert (graded["reference"]["start"], graded["reference"]["end"]) == (
        iso(START + 5 * HOUR), iso(START + DAY + 6 * HOUR))
    assert "the same window 1 to 2 × 1d earlier (2 found)" in graded["summary"]


def test_a_slow_drift_is_critical_under_a_fixed_reference_and_under_a_rolling_one_through_its_anchor(
        tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    # 30 ten-minute windows; from window 5 on the load creeps up by 0.06 sd per window
    events = [{"ts": START + w * 600_000 + i * 1_000, "f": {"load": round(float(v), 3), "device": "desktop"}}
              for w in range(30) for i, v in enumerate(rng.normal(50 + 0.3 * max(w - 5, 0), 5, 500))]
    fixed = f"{{kind: fixed, start: {iso(START)}, end: {iso(START + 5 * 600_000)}}}"
    last = iso(START + 28 * 600_000)
    by_kind = {}
    for kind, reference in (("fixed", fixed), ("rolling", "{kind: rolling, windows: 5}")):
        shift = [e for e in replay(tmp_path, reference, events, window="10m")
                 if e["check"] == "mean_shift" and e["window"]["start"] == last]
        by_kind[kind] = shift[0]
    assert by_kind["fixed"]["severity"] == "critical" and by_kind["fixed"]["value"] > 1.2
    # the rolling reference follows the drift, but its shift from the anchor grows critical; windows
    # critical for the feature then stay out of its reference, which stops following
    assert by_kind["rolling"]["severity"] == "critical"
    assert by_kind["fixed"]["reference"] == {"kind": "fixed", "start": iso(START), "end": iso(START + 3_000_000)}


def test_fixed_reference_windows_are_never_forgotten() -> None:
    spec = monitor(reference={"kind": "fixed", "start": iso(0), "end": iso(2 * 60_000)})
    engine = MonitorEngine(spec)
    engine.fold(records([{"ts": w * 60 + i, "f": {"x": i, "c": "a"}} for w in range(50) for i in range(20)]))
    for start in engine.due_windows():
        engine.close_window(start, engine.local_profiles(start), emitted_at=0)
    # the fixed range's windows, and the newest 30: the recent baseline of volume
    assert sorted(engine.history) == [0, 60_000] + [w * 60_000 for w in range(19, 49)]


def training(rng: np.random.Generator, rows: int, shift: float = 0.0, mobile: float = 0.3) -> list[dict[str, Any]]:
    loads = rng.normal(50 + shift * 5, 5, rows)
    devices = np.where(rng.random(rows) < mobile, "mobile", "desktop")
    return [{"load": round(float(v), 2), "device": str(d)} for v, d in zip(loads, devices)]


def serving(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"ts": START + i * 500, "f": row} for i, row in enumerate(rows)]   # 120 events a minute


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_a_snapshot_from_a_training_file_flags_skew_and_stays_quiet_on_the_same_distribution(
        tmp_path: Path, suffix: str) -> None:
    rng = np.random.default_rng(9)
    write_training(tmp_path / f"train{suffix}", training(rng, 20_000))
    reference = f"{{kind: snapshot, file: train{suffix}}}"
    clean = replay(tmp_path, reference, serving(training(rng, 6_000)), window="10m")
    assert {e["severity"] for e in clean if e["value"] is not None} == {"ok"}
    assert len({e["window"]["start"] for e in clean}) == 4   # 6,000 events: 4 full ten-minute windows closed
    skewed = replay(tmp_path, reference, serving(training(rng, 6_000, shift=0.5, mobile=0.6)), window="10m")
    critical = {(e["feature"], e["check"]) for e in skewed if e["severity"] == "critical"}
    assert critical == {("load", "numeric_drift"), ("load", "mean_shift"), ("device", "categorical_drift")}
    summary = next(e["summary"] for e in skewed if e["check"] == "mean_shift")
    assert f"against snapshot 'train{suffix}' (20,000 rows)" in summary


def write_training(path: Path, rows: list[dict[str, Any]]) -> None:
    if path.suffix == ".csv":
        with open(path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, ["load", "device"])
            writer.writeheader()
            writer.writerows(rows)
    elif path.suffix == ".parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        path.write_bytes(b"".join(orjson.dumps({"f": row}) + b"\n" for row in rows))


def test_csv_cells_of_numeric_features_are_numbers_and_empty_cells_are_missing(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("load,device,ignored\n1.5,mobile,x\n,desktop,y\nlots,,z\n")
    spec = monitor(features={"load": {"type": "numeric", "field": "f.load"},
                             "device": {"type": "categorical", "field": "f.device"}})
    report = ReadReport()
    snapshot = build_snapshot(spec, read_rows(path, spec, report), "t", "t.csv", 0)
    load, device = snapshot.profile.features["load"], snapshot.profile.features["device"]
    assert (snapshot.rows, load.n, load.missing, load.invalid) == (3, 1, 1, 1)
    assert (device.n, device.missing) == (3, 0)   # an empty cell of a categorical is the value ''
    assert Snapshot.from_bytes(snapshot.to_bytes()).describe() == snapshot.describe()


def test_lines_that_are_not_objects_are_skipped_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"f": {"x": 1}}\n[1]\n{broken\n\n{"f": {"x": 2}}\n')
    report = ReadReport()
    rows = [r for batch in read_rows(path, monitor(), report) for r in batch]
    assert (len(rows), report.rows, report.skipped) == (2, 2, 2)
    assert report.examples[0] == "line 2: not a JSON object"
    assert report.examples[1].startswith("line 3: not valid JSON")


def iso(ms: int) -> str:
    from stream_guard.core.alerting.alerts import iso as format_iso
    return format_iso(ms)
