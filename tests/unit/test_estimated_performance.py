"""`estimated_performance`: a binary model's metric estimated from its scores, calibrated on a labelled snapshot."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from scipy.stats import beta

from stream_guard.cli.main import main
from stream_guard.core.judging.estimated import estimate, estimated_drop, expected
from stream_guard.core.judging.references import Reference
from stream_guard.core.labels.calibration import Calibration
from stream_guard.core.labels.scores import PerformanceState
from stream_guard.core.profiles.profile import NumericProfile
from stream_guard.core.profiles.snapshot import Snapshot, build_snapshot
from stream_guard.core.topology.file import load_topology
from stream_guard.errors import TopologyError
from stream_guard.offline.score_scenario import scored_events, training_rows

from .builders import monitor

MINUTE = 60_000
START = 1_800_000_000_000 - 1_800_000_000_000 % MINUTE


def profile_of(scores: np.ndarray) -> NumericProfile:
    profile = NumericProfile()
    profile.sketch.update(scores)
    return profile


def realized(scores: np.ndarray, labels: np.ndarray) -> PerformanceState:
    state = PerformanceState()
    for score, label in zip(scores, labels):
        state.add_binary(float(score), int(label), 0.5)
    return state


@pytest.mark.parametrize("metric", ["accuracy", "precision", "recall", "f1", "roc_auc"])
def test_on_calibrated_scores_the_estimate_follows_the_realized_metric_over_100_windows(metric: str) -> None:
    # labels drawn from the scores: the realized metric of 2,000 predictions varies by about 0.01 around
    # what the scores promise, so the estimate is unbiased within 0.005 and within 0.05 of every window
    rng = np.random.default_rng(7)
    errors = []
    for _ in range(100):
        scores = rng.beta(2, 2, 2_000)
        labels = rng.random(2_000) < scores
        truth = realized(scores, labels).metric(metric)
        assert truth is not None
        errors.append(estimate(profile_of(scores), Calibration.identity(), metric, 0.5) - truth)   # type: ignore[operator]
    assert abs(float(np.mean(errors))) < 0.005
    assert float(np.max(np.abs(errors))) < 0.05


@pytest.mark.parametrize("metric", ["accuracy", "precision", "recall", "f1"])
def test_the_standard_error_is_the_spread_of_the_estimate_over_200_windows(metric: str) -> None:
    rng = np.random.default_rng(9)
    confusions = [expected(profile_of(rng.beta(2, 3, 1_000)), Calibration.identity(), 0.5) for _ in range(200)]
    spread = float(np.std([c.metric(metric) for c in confusions]))
    errors = [c.standard_error(metric, 1_000) for c in confusions]
    assert float(np.mean(errors)) == pytest.approx(spread, rel=0.15)   # type: ignore[arg-type]


def test_the_same_drop_is_significant_on_many_scores_and_not_on_few() -> None:
    spec = monitor(prediction={"score": {"type": "numeric"}}, model={"task": "binary"},
                   checks={"estimated_performance": {"metric": "accuracy"}})
    def scores(a: float, n: int) -> np.ndarray:   # evenly spread over Beta(a, 3): no sampling luck
        return beta.ppf((np.arange(n) + 0.5) / n, a, 3)

    reference = Reference((), profile_of(scores(1, 20_000)), 20_000, 0, "the previous windows")
    many, few = (estimated_drop(spec, profile_of(scores(1.3, n)), reference) for n in (5_000, 40))
    assert many.value == pytest.approx(0.036, abs=0.003) and few.value == pytest.approx(0.036, abs=0.003)
    assert many.p_value is not None and many.p_value < 1e-6
    assert few.p_value is not None and few.p_value > 0.01
    assert "scores taken as calibrated (no labelled snapshot reference)" in few.detail


def test_a_calibration_fitted_on_labelled_rows_corrects_an_overconfident_model() -> None:
    rng = np.random.default_rng(3)
    train = training_rows(rng, 50_000)
    state = realized(np.array([r["score"] for r in train]), np.array([r["label"] for r in train]))
    fitted = Calibration.fit(state.positives, state.negatives)
    serving = training_rows(rng, 20_000)
    scores = np.array([r["score"] for r in serving])
    truth = realized(scores, np.array([r["label"] for r in serving])).metric("accuracy")
    assert truth is not None
    assert abs(estimate(profile_of(scores), fitted, "accuracy", 0.5) - truth) < 0.015   # type: ignore[operator]
    # taken as calibrated, the overconfident scores promise about four points more than the model does
    assert estimate(profile_of(scores), Calibration.identity(), "accuracy", 0.5) - truth > 0.03   # type: ignore[operator]


def test_the_fitted_calibration_never_decreases_and_keeps_each_block_s_positives() -> None:
    rng = np.random.default_rng(5)
    scores = rng.random(5_000)
    labels = rng.random(5_000) < scores ** 2
    state = realized(scores, labels)
    fitted = Calibration.fit(state.positives, state.negatives)
    assert all(a <= b for a, b in zip(fitted.probabilities, fitted.probabilities[1:]))
    expected = sum(fitted.probabilities[b] * (state.positives[b] + state.negatives[b])
                   for b in set(state.positives) | set(state.negatives))
    assert expected == pytest.approx(state.positives.total(), rel=1e-9)
    assert fitted.labelled == 5_000


def test_without_labelled_rows_the_calibration_is_the_identity() -> None:
    assert Calibration.fit(Counter(), Counter()) == Calibration.identity()
    assert Calibration.identity().probability(0.8) == pytest.approx(0.8005)


TOPOLOGY = """version: 1
app: est
monitors:
  - name: m
    source: {{topic: t, timestamp: ts}}
    window: {{size: 1m, grace: 0s}}
    reference: {reference}
    features:
      x: {{type: numeric}}
    prediction:
      score: {{type: numeric}}
    model: {{task: binary, threshold: 0.5}}
    checks:
      estimated_performance: {{metric: accuracy, warning: 0.03, critical: 0.08, label: label}}
"""


def replay(tmp_path: Path, events: list[dict[str, Any]], reference: str = "{kind: snapshot, file: train.jsonl}",
           train: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    (tmp_path / "t.yaml").write_text(TOPOLOGY.format(reference=reference))
    (tmp_path / "train.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in train or []))
    (tmp_path / "e.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    out = tmp_path / "v.jsonl"
    assert main(["replay", str(tmp_path / "t.yaml"), str(tmp_path / "e.jsonl"), "--evaluations-out", str(out),
                 "--quiet"]) == 0
    return [e for line in out.read_bytes().splitlines()
            if (e := orjson.loads(line))["check"] == "estimated_performance"]


def test_scores_moving_to_one_half_are_critical_before_any_label_and_clean_traffic_is_quiet(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    train = training_rows(rng, 20_000)
    clean = replay(tmp_path, scored_events(rng, START, 12, MINUTE, 2_000), train=train)
    assert len(clean) == 11   # the last window never closes
    assert [e["severity"] for e in clean] == ["ok"] * 11
    assert all(abs(e["value"]) < 0.02 for e in clean)
    assert "calibrated on 20,000 labelled rows of snapshot 'train.jsonl'" in clean[0]["summary"]

    shifted = replay(tmp_path, scored_events(rng, START, 12, MINUTE, 2_000, uncertainty=0.6, from_window=6),
                     train=train)
    assert [e["severity"] for e in shifted] == ["ok"] * 6 + ["critical"] * 5
    assert all(0.1 < e["value"] < 0.2 for e in shifted[6:])
    assert shifted[6]["feature"] == "score" and shifted[6]["metric"] == "estimated_accuracy"


def test_under_a_rolling_reference_the_scores_are_taken_as_calibrated_and_the_summary_says_so(
        tmp_path: Path) -> None:
    rng = np.random.default_rng(12)
    events = scored_events(rng, START, 16, MINUTE, 2_000, uncertainty=0.6, from_window=12)
    found = replay(tmp_path, events, reference="{kind: rolling, windows: 5}")
    assert [e["severity"] for e in found[5:]] == ["ok"] * 7 + ["critical"] * 3
    assert "scores taken as calibrated (no labelled snapshot reference)" in found[-1]["summary"]


def test_a_snapshot_keeps_its_labelled_scores_and_one_stored_before_them_still_reads() -> None:
    spec = monitor(prediction={"score": {"type": "numeric"}}, model={"task": "binary"},
                   checks={"estimated_performance": {"label": "label"}})
    rows = training_rows(np.random.default_rng(2), 1_000)
    snapshot = build_snapshot(spec, [rows], "train", "train.jsonl", 0)
    again = Snapshot.from_bytes(snapshot.to_bytes())
    assert again.labels is not None and again.labels.labelled == 1_000
    assert again.labels.metric("accuracy") == snapshot.labels.metric("accuracy")   # type: ignore[union-attr]
    unlabelled = build_snapshot(spec, [[{k: v for k, v in r.items() if k != "label"} for r in rows]], "u", "u", 0)
    assert unlabelled.labels is None and Snapshot.from_bytes(unlabelled.to_bytes()).labels is None


def test_a_snapshot_keeps_its_pca_and_its_labelled_scores_side_by_side() -> None:
    spec = monitor(features={"x": {"type": "numeric"}, "twice": {"type": "numeric", "field": "x"}},
                   prediction={"score": {"type": "numeric"}},
                   model={"task": "binary"}, checks={"estimated_performance": {"label": "label"}})
    snapshot = build_snapshot(spec, [training_rows(np.random.default_rng(6), 2_000)], "train", "train.jsonl", 0)
    again = Snapshot.from_bytes(snapshot.to_bytes())
    assert again.multivariate is not None and again.labels is not None and again.labels.labelled == 2_000


def test_the_check_on_a_monitor_without_a_binary_model_is_reported_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(TOPOLOGY.format(reference="{kind: rolling}").replace("    model: {task: binary, threshold: 0.5}\n",
                                                                          ""))
    with pytest.raises(TopologyError) as caught:
        load_topology(path)
    assert [p.replace(str(path), "F") for p in caught.value.problems] == [
        "F:13: monitors[0].checks.estimated_performance: estimated performance is for binary classifiers and this "
        "monitor has no model: add model: {task: binary, threshold: 0.5} or remove the check"]
