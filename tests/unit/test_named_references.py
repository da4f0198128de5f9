"""Several named references in one monitor (`references:`), each check comparing with the one it names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from stream_guard.cli.main import main
from stream_guard.core.engine import MonitorEngine
from stream_guard.core.judging.references import ClosedWindow, kept_starts, reference_horizon
from stream_guard.core.profiles.profile import WindowProfile
from stream_guard.core.topology.file import load_topology
from stream_guard.core.topology.monitor import MonitorSpec
from stream_guard.core.topology.reference_choice import check_reference
from stream_guard.errors import TopologyError
from stream_guard.offline.references import snapshots_for

from .builders import monitor

MINUTE = 60_000
START = 1_800_000_000_000 - 1_800_000_000_000 % 86_400_000

HEAD = """version: 1
app: refs
monitors:
  - name: m
    source: {topic: t, timestamp: ts}
    window: {size: 10m}
"""
FEATURES = """    features:
      load: {type: numeric, field: f.load}
      device: {type: categorical, field: f.device}
"""
NAMED = """    references:
      recent: {kind: rolling, windows: 3}
      training: {kind: snapshot, file: train.jsonl}
"""


def problems_of(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "t.yaml"
    path.write_text(text)
    with pytest.raises(TopologyError) as caught:
        load_topology(path)
    return [p.replace(str(path), "F") for p in caught.value.problems]


def loaded(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "t.yaml"
    path.write_text(text)
    return load_topology(path).monitors[0]


def test_the_first_named_reference_is_the_default_and_a_check_takes_the_one_it_names(tmp_path: Path) -> None:
    spec = loaded(tmp_path, HEAD + NAMED + """    checks:
      mean_shift: {reference: training}
      numeric_drift: {reference: training}
    features:
      load: {type: numeric, field: f.load, checks: {numeric_drift: {warning: 0.2, critical: 0.3}}}
      device: {type: categorical, field: f.device, checks: {categorical_drift: {reference: training}}}
""")
    assert spec.reference.kind == "rolling" and spec.reference.window_count() == 3
    assert list(spec.reference_specs()) == ["recent", "training"]
    assert check_reference(spec, "volume") == "recent"
    assert check_reference(spec, "mean_shift") == "training"
    load, device = spec.features["load"], spec.features["device"]
    # a feature's own ladder that names no reference keeps the monitor's choice for that check
    assert check_reference(spec, "numeric_drift", load.checks.numeric_drift) == "training"
    assert check_reference(spec, "categorical_drift", device.checks.categorical_drift) == "training"
    assert check_reference(spec, "categorical_drift") == "recent"
    assert spec.judged_against("training").reference.kind == "snapshot"
    assert spec.judged_against("recent") is spec


def test_the_single_reference_form_is_unchanged(tmp_path: Path) -> None:
    spec = loaded(tmp_path, HEAD + "    reference: {kind: rolling, windows: 4}\n" + FEATURES)
    assert list(spec.reference_specs()) == ["reference"]
    assert check_reference(spec, "mean_shift") == "reference"
    assert spec.judged_against("reference") is spec


def test_reference_mistakes_are_reported_at_their_line(tmp_path: Path) -> None:
    assert problems_of(tmp_path, HEAD + "    reference: {kind: rolling}\n" + NAMED + """    checks:
      mean_shift: {reference: trainig}
      slow_drift: {reference: training}
      freshness: {reference: recent}
""" + FEATURES + """      amount: {type: numeric, field: f.a, checks: {std_shift: {reference: old}}}
""") == [
        "F:8: monitors[0].references: give either reference: (one) or references: (several, by name), not both",
        "F:12: monitors[0].checks.mean_shift.reference: unknown reference 'trainig'; did you mean 'training'? "
        "(the monitor's references: recent, training)",
        "F:13: monitors[0].checks.slow_drift.reference: slow_drift watches a rolling reference follow the data; "
        "'training' is snapshot",
        "F:14: monitors[0].checks.freshness.reference: freshness reads the worker's clock and compares with no "
        "reference; leave reference out",
        "F:18: monitors[0].features.amount.checks.std_shift.reference: unknown reference 'old' (the monitor's "
        "references: recent, training)",
    ]


def test_naming_a_reference_needs_named_references_and_periods_fit_the_window(tmp_path: Path) -> None:
    assert problems_of(tmp_path, HEAD + "    checks:\n      volume: {reference: recent}\n" + FEATURES) == [
        "F:8: monitors[0].checks.volume.reference: volume names reference 'recent', but the monitor has no named "
        "references: declare them under references: (e.g. references: {recent: {kind: rolling}, recent: "
        "{kind: snapshot, name: ...}})",
    ]
    assert problems_of(tmp_path, HEAD + """    references:
      recent: {kind: rolling}
      daily: {kind: seasonal, period: 25m}
""" + FEATURES) == [
        "F:9: monitors[0].references.daily.period: period 25m is not a multiple of the window size 10m",
    ]
    assert problems_of(tmp_path, HEAD + "    references: {}\n" + FEATURES) == [
        "F:7: monitors[0].references: name at least one reference, e.g. references: {recent: {kind: rolling}}",
    ]
    assert problems_of(tmp_path, HEAD + "    references:\n      bad name: {kind: rolling}\n" + FEATURES)[0].startswith(
        "F:8: monitors[0].references.bad name.[key]: String should match pattern")


def training_rows(rng: np.random.Generator, rows: int, shift: float = 0.0) -> list[dict[str, Any]]:
    loads = rng.normal(50 + shift * 5, 5, rows)
    devices = np.where(rng.random(rows) < 0.3, "mobile", "desktop")
    return [{"load": round(float(v), 2), "device": str(d)} for v, d in zip(loads, devices)]


def test_each_check_is_judged_against_its_reference_and_its_records_name_it(tmp_path: Path) -> None:
    """Serving runs 0.5 sd above the training data, steadily: against the training snapshot mean_shift is
    critical from the first window; against the recent windows nothing moves."""
    rng = np.random.default_rng(19)
    (tmp_path / "train.jsonl").write_bytes(b"".join(orjson.dumps({"f": r}) + b"\n"
                                                    for r in training_rows(rng, 20_000)))
    (tmp_path / "t.yaml").write_text(HEAD + NAMED + "    checks:\n      mean_shift: {reference: training}\n"
                                     + FEATURES)
    serving = [{"ts": START + i * 500, "f": r} for i, r in enumerate(training_rows(rng, 12_000, shift=0.5))]
    (tmp_path / "e.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in serving))
    alerts, evaluations = tmp_path / "a.jsonl", tmp_path / "v.jsonl"
    assert main(["replay", str(tmp_path / "t.yaml"), str(tmp_path / "e.jsonl"), "--alerts-out", str(alerts),
                 "--evaluations-out", str(evaluations), "--quiet"]) == 0
    fired = [orjson.loads(line) for line in alerts.read_bytes().splitlines()]
    assert [(a["feature"], a["check"], a["severity"], a["status"], a["window"]["start"]) for a in fired] == [
        ("load", "mean_shift", "critical", "firing", iso(START))]
    assert fired[0]["reference"] == {"kind": "snapshot", "start": None, "end": None, "name": "training"}
    assert "against snapshot 'train.jsonl' (20,000 rows)" in fired[0]["summary"]
    records = [orjson.loads(line) for line in evaluations.read_bytes().splitlines()]
    assert len({e["window"]["start"] for e in records}) == 9
    shift = [e for e in records if e["check"] == "mean_shift"]
    assert [e["severity"] for e in shift] == ["critical"] * 9
    drift = {e["window"]["start"]: e for e in records if e["feature"] == "load" and e["check"] == "numeric_drift"}
    fourth = drift[iso(START + 30 * MINUTE)]
    assert fourth["reference"] == {"kind": "rolling", "start": iso(START), "end": iso(START + 30 * MINUTE),
                                   "name": "recent"}
    assert {e["severity"] for e in drift.values()} == {"ok"}
    volume = [e for e in records if e["check"] == "volume"]
    assert {e["reference"]["name"] for e in volume} == {"recent"} and {e["severity"] for e in volume} == {"ok"}


def test_the_single_form_s_records_carry_no_reference_name(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    (tmp_path / "t.yaml").write_text(HEAD + "    reference: {kind: rolling, windows: 3}\n" + FEATURES)
    serving = [{"ts": START + i * 500, "f": r} for i, r in enumerate(training_rows(rng, 6_000))]
    (tmp_path / "e.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in serving))
    out = tmp_path / "v.jsonl"
    assert main(["replay", str(tmp_path / "t.yaml"), str(tmp_path / "e.jsonl"), "--evaluations-out", str(out),
                 "--quiet"]) == 0
    records = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert records and all(set(e["reference"]) == {"kind", "start", "end"} for e in records)


def test_snapshots_are_found_per_named_reference(tmp_path: Path) -> None:
    import asyncio

    rng = np.random.default_rng(4)
    (tmp_path / "train.jsonl").write_bytes(b"".join(orjson.dumps({"f": r}) + b"\n"
                                                    for r in training_rows(rng, 500)))
    path = tmp_path / "t.yaml"
    path.write_text(HEAD + NAMED + FEATURES)
    topology = load_topology(path)
    found = asyncio.run(snapshots_for(topology, path))
    assert list(found) == ["m"] and list(found["m"]) == ["training"] and found["m"]["training"].rows == 500
    engine = MonitorEngine(topology.monitors[0])
    engine.use_snapshots(found["m"])
    assert engine.snapshot is None and engine.snapshots["training"].rows == 500   # the default is rolling


def test_every_reference_keeps_the_windows_it_needs() -> None:
    """A fixed baseline beside a rolling one: its windows stay however old, and the rolling reference's
    newest windows stay with them; the same history is kept again after a restart."""
    spec = MonitorSpec.model_validate({
        "name": "m", "source": {"topic": "t", "timestamp": "ts"}, "window": {"size": "1m"},
        "features": {"x": {"type": "numeric", "field": "f.x"}},
        "references": {"recent": {"kind": "rolling", "windows": 2},
                       "base": {"kind": "fixed", "start": "2026-11-01T00:00:00Z", "end": "2026-11-01T00:03:00Z"}}})
    assert reference_horizon(spec) == 30   # the fixed reference's volume baseline: 3 × 10 windows
    first = 1_793_491_200_000   # 2026-11-01T00:00:00Z
    history = {first + k * MINUTE: ClosedWindow(WindowProfile.empty(spec, first + k * MINUTE)) for k in range(60)}
    keep = kept_starts(spec, history)
    assert sorted((s - first) // MINUTE for s in keep) == [0, 1, 2, *range(30, 60)]
    assert kept_starts(spec, {s: history[s] for s in keep}) == keep
    rolling_only = monitor(reference={"kind": "rolling", "windows": 2})
    assert sorted((s - first) // MINUTE for s in kept_starts(rolling_only, history)) == list(range(54, 60))


def iso(ms: int) -> str:
    from stream_guard.core.alerting.alerts import iso as to_iso
    return to_iso(ms)


def test_a_missing_named_reference_file_is_reported_at_its_line(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(HEAD + NAMED + FEATURES)   # training: {kind: snapshot, file: train.jsonl}, not written
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.replace(str(tmp_path), "D")
    assert err == ("D/t.yaml:9: reference file train.jsonl does not exist (relative to the current folder and to "
                   "D, the topology file's folder)\n")
