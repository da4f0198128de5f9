"""Multivariate drift: the snapshot's PCA, each event's reconstruction error, the `multivariate` check."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from stream_guard.cli.main import main
from stream_guard.core.engine import MonitorEngine
from stream_guard.core.profiles.multivariate import RECONSTRUCTION, ReconstructionModel, RowSample
from stream_guard.core.profiles.profile import NumericProfile, WindowProfile
from stream_guard.core.profiles.snapshot import Snapshot, build_snapshot
from stream_guard.core.topology.file import load_topology
from stream_guard.errors import TopologyError

from .builders import monitor, records

MINUTE, DAY = 60_000, 86_400_000
START = 1_800_000_000_000 - 1_800_000_000_000 % DAY
FEATURES = ("a", "b", "c", "d", "e")
TOPOLOGY = """version: 1
app: mv
monitors:
  - name: m
    source: {{topic: t, timestamp: ts}}
    window: {{size: 1m, grace: 0s}}
    reference: {reference}
    features:
      a: {{type: numeric}}
      b: {{type: numeric}}
      c: {{type: numeric}}
      d: {{type: numeric}}
      e: {{type: numeric}}
      kind: {{type: categorical}}
"""


def rows(rng: np.random.Generator, n: int, broken: bool = False) -> list[dict[str, Any]]:
    """a and b correlated (0.8), c, d and e independent, each with its own marginal; `broken`: b's values
    shuffled within the batch, so every marginal stays exactly what it was and only the tie of a and b goes."""
    z1, z2 = rng.normal(size=n), rng.normal(size=n)
    b = 3 + 2 * (0.8 * z1 + 0.6 * z2)
    columns = {"a": 50 + 10 * z1, "b": rng.permutation(b) if broken else b, "c": rng.lognormal(1, 0.5, n),
               "d": rng.uniform(0, 10, n), "e": rng.normal(-5, 3, n)}
    kinds = rng.choice(["x", "y"], n)
    return [{**{name: round(float(columns[name][i]), 4) for name in FEATURES}, "kind": str(kinds[i])}
            for i in range(n)]


def write_stream(path: Path, windows: int, broken_from: int, seed: int, per_window: int = 1000) -> None:
    rng = np.random.default_rng(seed)
    with open(path, "wb") as out:
        for w in range(windows):
            for i, row in enumerate(rows(rng, per_window, broken=w >= broken_from)):
                out.write(orjson.dumps({"ts": START + w * MINUTE + i * (MINUTE // per_window), **row}) + b"\n")


def replay(tmp_path: Path, windows: int, broken_from: int, reference: str = "{kind: snapshot, file: train.jsonl}",
           seed: int = 5) -> list[dict[str, Any]]:
    train = np.random.default_rng(seed + 1000)
    (tmp_path / "train.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows(train, 20_000)))
    (tmp_path / "t.yaml").write_text(TOPOLOGY.format(reference=reference))
    write_stream(tmp_path / "e.jsonl", windows, broken_from, seed)
    out = tmp_path / "v.jsonl"
    assert main(["replay", str(tmp_path / "t.yaml"), str(tmp_path / "e.jsonl"), "--evaluations-out", str(out),
                 "--quiet"]) == 0
    return [orjson.loads(line) for line in out.read_bytes().splitlines()]


def severities(evaluations: list[dict[str, Any]], check: str) -> list[str]:
    return [e["severity"] for e in sorted(evaluations, key=lambda e: e["window"]["start"]) if e["check"] == check]


def test_a_correlation_break_with_unchanged_marginals_is_critical_on_multivariate_and_nothing_else(
        tmp_path: Path) -> None:
    evaluations = replay(tmp_path, windows=20, broken_from=12)
    # window 19 is still open at the end of the file
    assert severities(evaluations, "multivariate") == ["ok"] * 12 + ["critical"] * 7
    others = Counter(e["severity"] for e in evaluations if e["check"] != "multivariate")
    # per window: 5 checks on each numeric feature, 4 on the categorical one, volume and schema drift
    assert others == Counter({"ok": 19 * (5 * 5 + 4 + 2)})
    first = next(e for e in evaluations if e["check"] == "multivariate" and e["severity"] == "critical")
    assert (first["feature"], first["metric"], first["n_current"], first["n_reference"]) == (
        "*", "reconstruction_error_change", 1000, 20_000)
    assert first["summary"].endswith("mean reconstruction error 0.3565 → 0.8224 (PCA of a, b, c, d, e: "
                                     "4 components, 96% of the snapshot's variance).")
    assert first["value"] > 1.0   # the mean error more than doubles


def test_clean_windows_stay_quiet_on_the_multivariate_check(tmp_path: Path) -> None:
    evaluations = replay(tmp_path, windows=41, broken_from=10 ** 6, seed=8)
    assert severities(evaluations, "multivariate") == ["ok"] * 40
    assert max(e["value"] for e in evaluations if e["check"] == "multivariate") < 0.1


def test_the_check_is_off_without_a_snapshot_and_when_disabled(tmp_path: Path) -> None:
    rolling = replay(tmp_path, windows=6, broken_from=3, reference="{kind: rolling, windows: 2}")
    assert "multivariate" not in {e["check"] for e in rolling}
    spec = monitor(reference={"kind": "snapshot", "name": "train"}, features=_features(),
                   checks={"multivariate": {"enabled": False}})
    engine = MonitorEngine(spec, snapshot=_snapshot(spec))
    engine.fold(records([{"ts": START, "f": {"a": 1.0, "b": 2.0}}]))
    assert engine.folders[0].reconstruction is None
    assert RECONSTRUCTION not in engine.folders[0].windows[START].features


def _features() -> dict[str, Any]:
    return {name: {"type": "numeric", "field": f"f.{name}"} for name in ("a", "b", "c")}


def _snapshot(spec: Any, n: int = 5000) -> Snapshot:
    rng = np.random.default_rng(3)
    x = rng.normal(size=n)
    batch = [{"f": {"a": float(x[i]), "b": float(2 * x[i] + rng.normal()), "c": float(rng.normal())}}
             for i in range(n)]
    return build_snapshot(spec, [batch], "train", "train.jsonl", 0)


def test_missing_values_take_the_reference_mean_and_an_event_without_any_has_no_error() -> None:
    spec = monitor(reference={"kind": "snapshot", "name": "train"}, features=_features())
    snapshot = _snapshot(spec)
    model = snapshot.multivariate
    assert model is not None and model.features == ("a", "b", "c") and model.rows == 5000
    engine = MonitorEngine(spec, snapshot=snapshot)
    mean = model.mean
    events = [{"ts": START, "f": {"a": float(mean[0]), "b": float(mean[1]), "c": float(mean[2])}},
              {"ts": START + 1, "f": {"a": float(mean[0]), "c": float(mean[2])}},    # b missing: imputed
              {"ts": START + 2, "f": {}}]                                             # none of them
    engine.fold(records(events))
    errors = engine.folders[0].windows[START].features[RECONSTRUCTION]
    assert isinstance(errors, NumericProfile)
    assert (errors.n, errors.missing, errors.total) == (2, 1, 0.0)   # the mean row lies on every component


def test_the_snapshot_keeps_its_model_and_snapshots_stored_before_it_still_load() -> None:
    spec = monitor(reference={"kind": "snapshot", "name": "train"}, features=_features())
    snapshot = _snapshot(spec)
    again = Snapshot.from_bytes(snapshot.to_bytes())
    assert again.multivariate is not None and snapshot.multivariate is not None
    assert again.multivariate.to_json() == snapshot.multivariate.to_json()
    errors = again.profile.features[RECONSTRUCTION]
    assert isinstance(errors, NumericProfile) and errors.n == 5000
    old_profile = WindowProfile(0, 0, snapshot.profile.events,
                                {n: f for n, f in snapshot.profile.features.items() if n != RECONSTRUCTION})
    old = Snapshot.from_bytes(Snapshot("train", "train.jsonl", 5000, 0, old_profile).to_bytes())
    assert old.multivariate is None
    engine = MonitorEngine(spec, snapshot=old)
    engine.fold(records([{"ts": START + i, "f": {"a": 1.0, "b": 2.0, "c": 0.0}} for i in range(20)]))
    engine.fold(records([{"ts": START + 2 * MINUTE, "f": {"a": 1.0}}] * 3, first_offset=20))
    (start,) = engine.due_windows()
    result = engine.close_window(start, engine.local_profiles(start), START + 2 * MINUTE)
    assert "multivariate" not in {e.check for e in result.evaluations}
    assert RECONSTRUCTION not in result.closed.profile.features


def test_a_window_profile_stores_and_merges_the_errors_like_a_feature() -> None:
    spec = monitor(reference={"kind": "snapshot", "name": "train"}, features=_features())
    engine = MonitorEngine(spec, snapshot=_snapshot(spec))
    engine.fold(records([{"ts": START + i, "f": {"a": float(i), "b": 1.0, "c": 2.0}} for i in range(10)]))
    folded = engine.folders[0].windows[START]
    restored = WindowProfile.from_bytes(folded.to_bytes())
    errors = restored.features[RECONSTRUCTION]
    assert isinstance(errors, NumericProfile) and errors.n == 10
    without = WindowProfile.empty(spec, START)   # a partition folded without the model
    for merged in (restored.merged(without), without.merged(restored)):
        kept = merged.features[RECONSTRUCTION]
        assert isinstance(kept, NumericProfile) and (kept.n, kept.total) == (10, errors.total)


def test_two_features_keep_one_component_and_a_constant_feature_is_not_divided_by_zero() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=500)
    independent = ReconstructionModel.fit(("a", "b"), np.column_stack((x, rng.normal(size=500))))
    assert independent is not None and independent.kept == 1
    constant = ReconstructionModel.fit(("a", "b"), np.column_stack((x, np.full(500, 7.0))))
    assert constant is not None and constant.scale[1] == 1.0
    assert np.isfinite(constant.errors(np.array([[0.0, 7.0], [1.0, 9.0]]))).all()
    assert ReconstructionModel.fit(("a", "b"), np.column_stack((x, np.full(500, np.nan)))) is None


def test_the_row_sample_is_uniform_and_bounded() -> None:
    sample = RowSample(1, size=1000, seed=4)
    for start in range(0, 100_000, 3000):
        sample.add(np.arange(start, min(start + 3000, 100_000), dtype=float)[:, None])
    assert (sample.seen, len(sample.rows)) == (100_000, 1000)
    assert 40_000 < float(sample.rows.mean()) < 60_000


def test_the_share_of_variance_kept_is_read_from_the_check_when_the_snapshot_is_built() -> None:
    spec = monitor(reference={"kind": "snapshot", "name": "train"}, features=_features(),
                   checks={"multivariate": {"variance": 0.5}})
    model = _snapshot(spec).multivariate
    assert model is not None and (model.kept, round(model.explained, 2)) == (1, 0.63)
    default = _snapshot(monitor(reference={"kind": "snapshot", "name": "train"}, features=_features())).multivariate
    assert default is not None and (default.kept, round(default.explained, 2)) == (2, 0.97)


def test_thresholds_out_of_order_are_refused_with_the_line(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(TOPOLOGY.format(reference="{kind: snapshot, name: train}")
                    + "    checks:\n      multivariate: {warning: 0.5, critical: 0.2}\n")
    with pytest.raises(TopologyError) as caught:
        load_topology(path)
    assert [p.replace(str(path), "F") for p in caught.value.problems] == [
        "F:16: monitors[0].checks.multivariate: warning threshold 0.5 is above critical threshold 0.2; "
        "warning must be the lower one"]
