"""Realized performance on the real broker and Redis: predictions with ids on the source topic, their
labels on the label topic up to three windows late and out of order, a model whose accuracy drops
from window 7 on, and the worker killed (kill -9) while predictions wait for their labels.

The labels of the first 7.5 minutes go out with the first 8 windows of predictions; the worker joins
what it can, stores the rest as pending, and is killed. A new worker starts, and then the remaining
labels and predictions come. The performance alerts are exactly those of `replay --labels` on the same
files (ids, windows, severities, in order), window 7 is critical, and `/status` gives each window's
label coverage as counted from the files. A second test runs two workers on such a monitor (the join's
limit: one worker per monitor with labels).
"""

from __future__ import annotations

import random
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from stream_guard.adapters import kafka_io
from stream_guard.cli.main import main
from stream_guard.core.alerting.alerts import iso
from stream_guard.core.topology.file import load_topology
from stream_guard.offline.label_scenario import START_MS, label_topology, label_traffic
from stream_guard.runtime.local_stack import LocalStack, create_topics

from .live import ALERT, LiveTopology, Worker, jsonl_lines, topic_records

pytestmark = pytest.mark.integration

WINDOW = 60_000
WINDOWS, PER_WINDOW, BROKEN = 12, 500, 7
MAX_LABEL_DELAY = 180_000            # labels come up to three windows after their prediction
JITTER = 4_000                        # and out of order by up to 4 s on the label topic (grace is 5 s)
PREDICTIONS_BEFORE_KILL = START_MS + 8 * WINDOW     # windows 0-7; 0-6 close, 7 waits for later events
LABELS_BEFORE_KILL = START_MS + 7 * WINDOW + 30_000
LAST_CLOSED = WINDOWS - 2             # window 11 stays open: no event comes after it
TICKED_BEFORE_KILL = START_MS + 6 * WINDOW + WINDOW + 5_000   # window 6's tick: its end + grace
LAST_TICK = START_MS + LAST_CLOSED * WINDOW + WINDOW + 5_000
MONITOR = "scorer"


def shuffled(labels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The labels in the order they reach the label topic: by time, each moved by up to `JITTER`."""
    rng = random.Random(5)
    return sorted(labels, key=lambda label: int(label["ts"]) + rng.uniform(0, JITTER))


def lines(rows: list[dict[str, Any]]) -> list[bytes]:
    return [orjson.dumps(r) for r in rows]


def live_topology(stack: LocalStack, directory: Path) -> tuple[LiveTopology, Path]:
    """The label scenario's topology under fresh names, two partitions to its source and label topics,
    created as `local up --topology` does."""
    app = f"lbl-{uuid.uuid4().hex[:8]}"
    text = label_topology(app, stack.broker_url, stack.redis_url).replace(
        f'redis: {{url: "{stack.redis_url}"}}\n',
        f'redis: {{url: "{stack.redis_url}"}}\nalerts: {{topic: {app}.alerts, dead_letter_topic: {app}.dlq}}\n')
    text = text.replace("timestamp: ts}", "timestamp: ts, partitions: 2}").replace("max_delay: 10m}",
                                                                                 "max_delay: 10m, partitions: 2}")
    path = directory / f"{app}.yaml"
    path.write_text(text)
    create_topics(stack.bootstrap(), load_topology(path).topics())
    return LiveTopology(path, app, f"{app}.predictions", f"{app}.alerts", f"{app}.dlq"), path


def performance_alerts(stack: LocalStack, topic: str, expected: set[str], timeout: float = 30) -> list[dict[str, Any]]:
    """The performance alert records on the alert topic, each id once (a record published again after
    the kill, before its window's grade was stored, carries the same id), once `expected` are all there
    or after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    seen: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline and not expected <= set(seen):
        seen = {}
        for record in topic_records(stack, topic, idle=1.0, schema=ALERT):
            if record["check"] == "performance":
                seen.setdefault(record["id"], record)
    return list(seen.values())


def replayed(topology: Path, events: list[dict[str, Any]], labels: list[dict[str, Any]],
             directory: Path) -> list[dict[str, Any]]:
    """The performance alerts `replay --labels` gives on the same predictions and labels."""
    events_file, labels_file, out = directory / "events.jsonl", directory / "labels.jsonl", directory / "out.jsonl"
    events_file.write_bytes(b"\n".join(lines(events)) + b"\n")
    labels_file.write_bytes(b"\n".join(lines(labels)) + b"\n")
    assert main(["replay", str(topology), str(events_file), "--labels", str(labels_file), "--alerts-out", str(out),
                 "--quiet"]) == 0
    return [a for a in map(orjson.loads, jsonl_lines(out)) if a["check"] == "performance"]


def expected_coverage(events: list[dict[str, Any]], labels: list[dict[str, Any]],
                      severities: dict[str, str]) -> list[dict[str, Any]]:
    """Each closed window's predictions and the labels applied by the last tick, newest first."""
    window_of = {e["request_id"]: (int(e["ts"]) - START_MS) // WINDOW for e in events}
    predicted = [0] * WINDOWS
    labelled = [0] * WINDOWS
    for e in events:
        predicted[window_of[e["request_id"]]] += 1
    for label in labels:
        if int(label["ts"]) < LAST_TICK:
            labelled[window_of[label["request_id"]]] += 1
    return [{"start": iso(START_MS + w * WINDOW), "end": iso(START_MS + (w + 1) * WINDOW),
             "predicted": predicted[w], "labelled": labelled[w],
             "coverage": round(labelled[w] / predicted[w], 4), "severity": severities.get(iso(START_MS + w * WINDOW),
                                                                                          "ok")}
            for w in range(LAST_CLOSED, -1, -1)]


def final_severities(alerts: list[dict[str, Any]]) -> dict[str, str]:
    """Per window start, the severity its last performance record left it at."""
    out: dict[str, str] = {}
    for alert in alerts:
        out[alert["window"]["start"]] = alert["severity"] if alert["status"] == "firing" else "ok"
    return out


def test_late_labels_grade_the_window_they_belong_to_and_a_kill_while_they_are_pending_loses_no_join(
        local_stack: LocalStack, tmp_path: Path) -> None:
    events, labels = label_traffic(windows=WINDOWS, per_window=PER_WINDOW, broken_from=BROKEN,
                                   max_delay=MAX_LABEL_DELAY)
    arriving = shuffled(labels)
    topology, path = live_topology(local_stack, tmp_path)
    labels_topic = f"{topology.app}.labels"
    early_events = [e for e in events if int(e["ts"]) < PREDICTIONS_BEFORE_KILL]
    cut = next(i for i, label in enumerate(arriving) if int(label["ts"]) >= LABELS_BEFORE_KILL)
    early_labels = arriving[:cut]
    joined = {label["request_id"] for label in early_labels if int(label["ts"]) < TICKED_BEFORE_KILL}
    pending = sum(1 for e in early_events if e["request_id"] not in joined)
    waiting = len(early_labels) - len(joined)

    expected = replayed(path, events, arriving, tmp_path)
    kafka_io.produce(local_stack.broker_url, labels_topic, lines(early_labels))
    kafka_io.produce(local_stack.broker_url, topology.source, lines(early_events))
    first = Worker(local_stack, topology, tmp_path)
    stored = redis.Redis.from_url(local_stack.redis_url)
    join_key = f"sg:{{{topology.app}/{MONITOR}}}:join"
    try:
        first.wait_for(lambda s: (s["monitors"][MONITOR]["last_evaluated_window"] or {}).get("start")
                       == iso(START_MS + 6 * WINDOW)
                       and s["monitors"][MONITOR]["labels"]["pending_predictions"] == pending
                       and s["monitors"][MONITOR]["labels"]["waiting_labels"] == waiting, timeout=60)
        first.wait_for(lambda _: stored.hlen(f"{join_key}:pending") == pending
                       and stored.hlen(f"{join_key}:labels") == waiting
                       and orjson.loads(stored.get(f"{join_key}:meta") or b"{}").get("ticked") == TICKED_BEFORE_KILL,
                       timeout=20)
    finally:
        first.kill()   # predictions stored and waiting; their labels not yet on the topic
        stored.close()

    second = Worker(local_stack, topology, tmp_path)
    try:
        second.wait_for(lambda s: s["monitors"][MONITOR]["evaluating"], timeout=60)
        kafka_io.produce(local_stack.broker_url, labels_topic, lines(arriving[cut:]))
        kafka_io.produce(local_stack.broker_url, topology.source,
                         lines([e for e in events if int(e["ts"]) >= PREDICTIONS_BEFORE_KILL]))
        status = second.wait_for(lambda s: [w["start"] for w in s["monitors"][MONITOR]["labels"]["windows"][:1]]
                                 == [iso(START_MS + LAST_CLOSED * WINDOW)]
                                 and s["monitors"][MONITOR]["labels"]["windows"][0]["labelled"] > 0, timeout=60)
        alerts = performance_alerts(local_stack, topology.alerts, {a["id"] for a in expected})
    finally:
        second.stop()

    assert [(a["id"], a["window"]["start"], a["status"], a["severity"]) for a in alerts] == \
        [(a["id"], a["window"]["start"], a["status"], a["severity"]) for a in expected], second.log()[-4000:]
    broken = [a for a in alerts if a["window"]["start"] == iso(START_MS + BROKEN * WINDOW) and a["status"] == "firing"]
    assert broken[-1]["severity"] == "critical"
    assert all(a["window"]["start"] >= iso(START_MS + BROKEN * WINDOW) for a in alerts if a["severity"] != "info")
    coverage = status["monitors"][MONITOR]["labels"]
    assert coverage["windows"] == expected_coverage(events, labels, final_severities(expected))
    assert coverage["counts"]["late_labels"] == 0 and coverage["counts"]["duplicates"] == 0


def test_two_workers_on_a_monitor_with_labels_fold_every_prediction_and_name_the_labels_not_joined(
        local_stack: LocalStack, tmp_path: Path) -> None:
    """The join's limit (one worker per monitor with labels), as it shows: both workers say which label
    partition no join reads, the one that does not evaluate leaves that partition's records, and every
    prediction is folded and every window evaluated."""
    events, labels = label_traffic(windows=6, per_window=4000, max_delay=MAX_LABEL_DELAY)
    topology, _ = live_topology(local_stack, tmp_path)
    workers = [Worker(local_stack, topology, tmp_path)]
    try:
        workers[0].wait_for(lambda s: s["monitors"][MONITOR]["evaluating"], timeout=60)
        workers.append(Worker(local_stack, topology, tmp_path))
        workers[1].wait_for(lambda _: workers[0].partitions() | workers[1].partitions() == {0, 1}
                            and all(w.partitions() for w in workers), timeout=60)
        evaluator, other = sorted(workers, key=lambda w: min(w.partitions()))
        kafka_io.produce(local_stack.broker_url, f"{topology.app}.labels", lines(labels))
        kafka_io.produce(local_stack.broker_url, topology.source, lines(events))

        def folded(worker: Worker) -> int:
            status = worker.status() or {"monitors": {MONITOR: {"partitions": {}}}}
            return sum(p["folded"] for p in status["monitors"][MONITOR]["partitions"].values())

        evaluator.wait_for(lambda s: (s["monitors"][MONITOR]["last_evaluated_window"] or {}).get("start")
                           == iso(START_MS + 4 * WINDOW) and folded(evaluator) + folded(other) == len(events),
                           timeout=60)
        assert other.partitions() == {1} and folded(other) > 0
    finally:
        for worker in workers:
            worker.stop()
    assert (f"scorer: label partitions 1 of {topology.app}.labels are assigned to other workers of the group, "
            "which do not join them" in evaluator.log())
    assert (f"scorer: label partitions 1 of {topology.app}.labels are assigned to this worker, which does not "
            "evaluate the monitor: it leaves them" in other.log())
