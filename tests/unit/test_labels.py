"""Realized performance: the metrics, the join of late labels, the per-window alerts and their ids."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_guard.core.decoding.records import RawRecord
from stream_guard.core.labels.join import LabelJoin
from stream_guard.core.labels.scores import PerformanceState
from stream_guard.core.labels.tracker import PerformanceResult, PerformanceTracker
from stream_guard.core.topology.file import load_topology
from stream_guard.errors import TopologyError
from stream_guard.offline.label_scenario import START_MS, label_topology, label_traffic
from tests.unit.builders import records

MINUTE = 60_000


def binary_state(scores: list[float], labels: list[int], threshold: float = 0.5) -> PerformanceState:
    state = PerformanceState()
    for score, label in zip(scores, labels, strict=True):
        state.add_binary(score, label, threshold)
    return state


def test_binary_metrics_agree_with_their_definitions() -> None:
    rng = np.random.default_rng(3)
    labels = (rng.random(400) < 0.3).astype(int)
    scores = np.clip(rng.normal(0.3 + 0.3 * labels, 0.2), 0, 1).round(3)
    state = binary_state(list(scores), list(labels))
    said = scores >= 0.5
    tp, fp = int((said & (labels == 1)).sum()), int((said & (labels == 0)).sum())
    fn = int((~said & (labels == 1)).sum())
    pairs = [(p > n) + 0.5 * (p == n) for p in scores[labels == 1] for n in scores[labels == 0]]
    clipped = np.clip(scores, 1e-15, 1 - 1e-15)
    assert state.metric("accuracy") == pytest.approx(float((said == labels).mean()))
    assert state.metric("precision") == pytest.approx(tp / (tp + fp))
    assert state.metric("recall") == pytest.approx(tp / (tp + fn))
    assert state.metric("f1") == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert state.metric("roc_auc") == pytest.approx(float(np.mean(pairs)), abs=1e-3)
    assert state.metric("log_loss") == pytest.approx(
        float(-np.mean(labels * np.log(clipped) + (1 - labels) * np.log(1 - clipped))))


def test_multiclass_f1_is_the_unweighted_mean_over_classes() -> None:
    state = PerformanceState()
    for predicted, actual in [("a", "a"), ("a", "b"), ("b", "b"), ("c", "c"), ("c", "a")]:
        state.add_class(predicted, actual)
    f1 = {"a": 2 / 4, "b": 2 / 3, "c": 2 / 3}
    assert state.metric("accuracy") == pytest.approx(3 / 5)
    assert state.metric("f1") == pytest.approx(sum(f1.values()) / 3)


def test_regression_errors() -> None:
    state = PerformanceState()
    for predicted, actual in [(1.0, 2.0), (3.0, 1.0), (0.0, 0.0)]:
        state.add_value(predicted, actual)
    assert state.metric("mae") == pytest.approx(1.0)
    assert state.metric("rmse") == pytest.approx(math.sqrt(5 / 3))


def test_undefined_metrics_are_none_not_nan() -> None:
    only_positives = binary_state([0.7, 0.2], [1, 1])
    assert only_positives.metric("roc_auc") is None
    assert binary_state([0.2], [0]).metric("precision") is None
    assert PerformanceState().metric("accuracy") is None


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.integers(0, 1)), max_size=60), st.integers(0, 60))
def test_folding_halves_and_merging_equals_folding_the_whole(pairs: list[tuple[float, int]], cut: int) -> None:
    scores, labels = [p[0] for p in pairs], [p[1] for p in pairs]
    whole = binary_state(scores, labels)
    merged = binary_state(scores[:cut], labels[:cut]).merged(binary_state(scores[cut:], labels[cut:]))
    assert merged.log_loss_sum == pytest.approx(whole.log_loss_sum)
    assert merged.to_json() | {"log_loss_sum": 0} == whole.to_json() | {"log_loss_sum": 0}
    assert PerformanceState.from_json(whole.to_json()) == whole


def join() -> LabelJoin:
    return LabelJoin("binary", threshold=0.5, step=MINUTE, max_delay=10 * MINUTE, max_pending=100)


def test_a_label_is_credited_to_its_predictions_window_however_late_within_max_delay() -> None:
    j = join()
    j.predict("a", 30_000, 0.9)
    j.label("a", 8 * MINUTE, 1)
    assert j.advance(5 * MINUTE) == set()           # the label's tick has not come
    assert j.advance(9 * MINUTE) == {0}
    assert (j.buckets[0].labelled, j.buckets[0].predicted, j.buckets[0].tp) == (1, 1, 1)


def test_a_label_that_comes_before_its_prediction_waits_for_it() -> None:
    j = join()
    j.label("a", 10_000, 0)
    j.advance(MINUTE)
    j.predict("a", 5_000, 0.8)
    assert (j.buckets[0].labelled, j.buckets[0].fp) == (1, 1)
    assert not j.labels and not j.pending


def test_what_waits_past_max_delay_is_dropped_and_counted() -> None:
    j = join()
    j.predict("never-labelled", 0, 0.1)
    j.label("no-prediction", 0, 1)
    j.advance(11 * MINUTE)
    assert not j.pending and not j.labels
    assert (j.counts.expired, j.counts.unmatched) == (1, 1)


def test_the_cap_refuses_and_counts_what_does_not_fit() -> None:
    j = LabelJoin("binary", 0.5, MINUTE, 10 * MINUTE, max_pending=2)
    for i in range(5):
        j.predict(f"p{i}", 0, 0.5)
    assert len(j.pending) == 2 and j.counts.overflow == 3


def test_sampling_by_id_hash_keeps_the_same_ids_in_every_process() -> None:
    j = LabelJoin("binary", 0.5, MINUTE, MINUTE, sample=0.25)
    kept = [k for k in (f"id{i}" for i in range(4000)) if j.joins(k)]
    assert 800 < len(kept) < 1200
    assert kept == [k for k in (f"id{i}" for i in range(4000)) if LabelJoin("binary", 0.5, MINUTE, MINUTE,
                                                                              sample=0.25).joins(k)]


def test_changes_say_what_to_write_and_what_to_remove() -> None:
    j = join()
    j.predict("a", 0, 0.9)
    j.predict("b", 0, 0.1)
    first = j.changes()
    assert set(first.state.pending) == {"a", "b"} and not first.dropped_pending
    j.label("a", 1_000, 1)
    j.advance(MINUTE)
    second = j.changes()
    assert second.dropped_pending == ("a",) and second.dropped_labels == ("a",)
    assert second.state.buckets[0].labelled == 1 and not second.state.pending


def tracker(text: str) -> PerformanceTracker:
    path = Path("/tmp") / f"labels-{random.random()}.yaml"
    path.write_text(text)
    found = PerformanceTracker.for_monitor(load_topology(path).monitors[0])
    assert found is not None
    return found


def drive(t: PerformanceTracker, events: list[dict[str, object]], labels: list[dict[str, object]],
          batch: int, label_batch: int, shuffle_labels: bool) -> list[dict[str, object]]:
    """A live-like run: labels come as they are produced (batched, maybe out of order), windows close as
    predictions pass them, a tick waits until the labels have passed its time."""
    rng = random.Random(5)
    labels = list(labels)
    if shuffle_labels:   # out of order within a few windows
        labels.sort(key=lambda label: int(label["ts"]) + rng.randint(0, 2 * MINUTE))
    alerts: list[dict[str, object]] = []
    given = 0
    closed = None
    for i in range(0, len(events), batch):
        chunk = events[i:i + batch]
        t.on_predictions(records(chunk, first_offset=i))
        newest = int(chunk[-1]["ts"])
        closing = (newest - 5_000) // MINUTE * MINUTE - MINUTE
        while given < len(labels) and int(labels[given]["ts"]) < newest + 3 * MINUTE:
            part = labels[given:given + label_batch]
            t.on_labels([RawRecord(r.value, 0, given + n, "labels") for n, r in enumerate(records(part))])
            given += len(part)
        if closing >= START_MS and (closed is None or closing > closed):
            for tick in t.due_ticks(closing):
                alerts += t.tick(tick, t.tick_time(tick)).alerts
            closed = closing
    return alerts


def ids(alerts: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [(a["id"], a["severity"], a["status"], a["window"]) for a in alerts]


def test_the_same_labels_give_the_same_alerts_whatever_their_order_and_batches() -> None:
    events, labels = label_traffic(windows=12, per_window=600, broken_from=7, max_delay=150_000)
    first = drive(tracker(label_topology()), events, labels, batch=500, label_batch=50, shuffle_labels=False)
    second = drive(tracker(label_topology()), events, labels, batch=137, label_batch=7, shuffle_labels=True)
    assert ids(first) == ids(second)
    assert any(a["severity"] == "critical" and a["window"]["start"] == "2026-01-01T00:07:00Z"  # type: ignore[index]
               for a in first)


def test_a_window_is_graded_again_as_its_labels_come_and_its_alerts_name_it() -> None:
    events, labels = label_traffic(windows=12, per_window=600, broken_from=7, max_delay=150_000)
    alerts = drive(tracker(label_topology()), events, labels, batch=500, label_batch=50, shuffle_labels=False)
    seventh = [a for a in alerts if a["window"]["start"] == "2026-01-01T00:07:00Z"]  # type: ignore[index]
    assert [a["severity"] for a in seventh][-1] == "critical"
    assert len({a["id"] for a in seventh}) == len(seventh)   # escalation is a record of its own
    assert all(a["window"]["start"] >= "2026-01-01T00:07:00Z" for a in alerts)  # type: ignore[index]


def test_a_drop_that_more_labels_disprove_resolves() -> None:
    t = tracker(label_topology() + "    min_samples: 1\n")
    for w in range(4):   # four good windows
        for i in range(20):
            key = f"w{w}-{i}"
            t.join.predict(key, START_MS + w * MINUTE + i, 0.9)
            t.join.label(key, START_MS + w * MINUTE + 100, 1)
    for i in range(40):
        t.join.predict(f"late{i}", START_MS + 4 * MINUTE + i, 0.9)
    t.join.label("late0", START_MS + 4 * MINUTE + 100, 0)            # the first label is wrong...
    for tick in t.due_ticks(START_MS + 4 * MINUTE):
        first = t.tick(tick, t.tick_time(tick))
    for i in range(1, 40):                                             # ...the rest say the model is fine
        t.join.label(f"late{i}", START_MS + 5 * MINUTE + 100, 1)
    second = t.tick(START_MS + 5 * MINUTE, t.tick_time(START_MS + 5 * MINUTE))
    assert [a["status"] for a in first.alerts] == ["firing"]
    assert [(a["status"], a["window"]) for a in second.alerts] == [("resolved", first.alerts[0]["window"])]


def test_a_tick_reads_only_the_windows_whose_buckets_changed_however_many_the_join_keeps() -> None:
    t = tracker(label_topology(max_delay="7d"))
    for w in range(2000):
        t.join.predict(f"p{w}", START_MS + w * MINUTE, 0.9)
    t.tick(START_MS + 1998 * MINUTE, 0)                 # the first tick reads every window once
    read: list[int] = []
    window = t.join.window
    t.join.window = lambda start, size: read.append(start) or window(start, size)  # type: ignore[method-assign]
    t.join.label("p1990", START_MS + 1990 * MINUTE + 1, 1)
    result = t.tick(START_MS + 1999 * MINUTE, 0)
    assert [e.window_start for e in result.evaluations] == [START_MS + 1990 * MINUTE, START_MS + 1999 * MINUTE]
    assert len(read) < 40                               # the two windows and their references, not 2,000


def test_a_restored_join_continues_as_if_nothing_happened() -> None:
    events, labels = label_traffic(windows=10, per_window=400, broken_from=6)
    whole = tracker(label_topology())
    alerts = drive(whole, events, labels, batch=400, label_batch=100, shuffle_labels=False)
    first, second = tracker(label_topology()), tracker(label_topology())
    drive(first, events[:2400], labels, batch=400, label_batch=100, shuffle_labels=False)
    second.restore(first.checkpoint())
    # the restart reads again from before what the join stored: records it holds are skipped
    again = drive(second, events, labels, batch=400, label_batch=100, shuffle_labels=False)
    before = drive(tracker(label_topology()), events[:2400], labels, batch=400, label_batch=100,
                   shuffle_labels=False)
    assert ids(before) + ids(again) == ids(alerts) and ids(again)


TOPOLOGY = """\
version: 1
app: a
monitors:
  - name: m
    source: {topic: t, timestamp: ts}
    window: {size: 1m}
    features:
      amount: {type: numeric}
    prediction:
      score: {type: numeric}
      segment: {type: categorical}
    model: {task: binary, prediction: score}
    labels: {topic: l, id: rid, field: y, timestamp: ts, max_delay: 1h}
    checks:
      performance: {metric: roc_auc}
"""


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "t.yaml"
    path.write_text(text)
    with pytest.raises(TopologyError) as caught:
        load_topology(path)
    return [p.replace(str(path), "F") for p in caught.value.problems]


def test_model_and_labels_load(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(TOPOLOGY)
    monitor = load_topology(tmp_path / "t.yaml").monitors[0]
    assert monitor.labels is not None and monitor.labels.max_delay == 3_600_000
    assert monitor.checks.performance.metric == "roc_auc" and monitor.checks.performance.critical == 0.1


def test_the_label_topic_is_among_the_topics_stream_guard_creates_with_its_partitions(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(TOPOLOGY.replace("max_delay: 1h}", "max_delay: 1h, partitions: 3}").replace(
        "topic: t, timestamp: ts}", "topic: t, timestamp: ts, partitions: 2}"))
    assert load_topology(tmp_path / "t.yaml").topics() == {
        "t": 2, "l": 3, "stream-guard.alerts": 1, "stream-guard.dead-letters": 1}


def test_a_metric_the_task_has_not_is_reported_at_its_line(tmp_path: Path) -> None:
    assert problems(tmp_path, TOPOLOGY.replace("metric: roc_auc", "metric: rmse")) == [
        "F:15: monitors[0].checks.performance.metric: rmse does not apply to a binary model; use one of "
        "accuracy, precision, recall, f1, roc_auc, log_loss"]


def test_an_unnamed_prediction_among_several_is_reported(tmp_path: Path) -> None:
    assert problems(tmp_path, TOPOLOGY.replace(", prediction: score", "")) == [
        "F:12: monitors[0].model: the monitor has several prediction fields (score, segment): name one as "
        "model.prediction"]


def test_labels_without_a_model_are_reported(tmp_path: Path) -> None:
    assert problems(tmp_path, TOPOLOGY.replace("    model: {task: binary, prediction: score}\n", "")) == [
        "F:12: monitors[0].labels: labels need a model: add model: {task: binary} (or multiclass, regression)"]


def test_an_unknown_labels_key_is_reported_with_the_allowed_ones(tmp_path: Path) -> None:
    found = problems(tmp_path, TOPOLOGY.replace("max_delay: 1h", "max_delay: 1h, delay: 2"))
    assert found[0].startswith("F:13: unknown key monitors[0].labels.delay; did you mean 'max_delay'?")


def test_regression_needs_its_thresholds(tmp_path: Path) -> None:
    text = TOPOLOGY.replace("task: binary, prediction: score", "task: regression, prediction: score").replace(
        "{metric: roc_auc}", "{metric: mae}")
    assert problems(tmp_path, text) == [
        "F:15: monitors[0].checks.performance: a regression model's performance has no default thresholds: give "
        "metric (mae or rmse), warning and critical in the target's units"]


def test_replay_with_labels_is_critical_on_performance_for_the_window_where_accuracy_drops(tmp_path: Path) -> None:
    import orjson

    from stream_guard.offline.replay import replay

    events, labels = label_traffic(windows=12, per_window=600, broken_from=8)
    for name, rows in (("e.jsonl", events), ("l.jsonl", labels)):
        (tmp_path / name).write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    (tmp_path / "t.yaml").write_text(label_topology())
    alerts: list[dict[str, object]] = []
    summary = replay(load_topology(tmp_path / "t.yaml"), tmp_path / "e.jsonl", alerts.append, lambda r: None,
                     lambda r: None, labels=tmp_path / "l.jsonl")
    critical = sorted({a["window"]["start"] for a in alerts if a["severity"] == "critical"})  # type: ignore[index]
    assert critical[0] == "2026-01-01T00:08:00Z"
    assert {a["check"] for a in alerts} == {"performance"}
    assert summary.labels == len(labels) and summary.join["scorer"].invalid == 0
    assert PerformanceResult() == PerformanceResult()
