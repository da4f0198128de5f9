"""`estimated_performance` in a live worker: calibrated on a labelled `file:` snapshot, no label topic at all."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import orjson
import pytest

from stream_guard.adapters import kafka_io
from stream_guard.cli.main import main
from stream_guard.core.alerting.alerts import iso
from stream_guard.offline.score_scenario import scored_events, training_rows
from stream_guard.runtime.local_stack import LocalStack, create_topics

from .live import ALERT, LiveTopology, Worker, jsonl_lines, topic_records

pytestmark = pytest.mark.integration

MINUTE = 60_000
START = 1_800_000_000_000 - 1_800_000_000_000 % MINUTE
TOPOLOGY = """version: 1
app: {app}
kafka: {{broker: "kafka://127.0.0.1:9092", session_timeout: 10s}}
redis: {{url: "redis://127.0.0.1:6379/0"}}
alerts: {{topic: {alerts}, dead_letter_topic: {dead}}}
state: {{flush_interval: 1s}}
monitors:
  - name: scores
    source: {{topic: {source}, timestamp: ts}}
    window: {{size: 1m, grace: 5s}}
    reference: {{kind: snapshot, file: train.jsonl}}
    features:
      x: {{type: numeric}}
    prediction:
      score: {{type: numeric}}
    model: {{task: binary, threshold: 0.5}}
    checks:
      estimated_performance: {{metric: accuracy, label: label}}
"""


def live_topology(stack: LocalStack, directory: Path) -> LiveTopology:
    uid = uuid.uuid4().hex[:8]
    names = LiveTopology(directory / f"topology-{uid}.yaml", f"est-{uid}", f"src-{uid}", f"alerts-{uid}",
                         f"dlq-{uid}")
    names.path.write_text(TOPOLOGY.format(app=names.app, alerts=names.alerts, dead=names.dead_letters,
                                          source=names.source))
    create_topics(stack.bootstrap(), {names.source: 1, names.alerts: 1, names.dead_letters: 1})
    return names


def test_a_worker_is_critical_on_estimated_accuracy_when_the_scores_slide_to_one_half_and_replay_agrees(
        local_stack: LocalStack, tmp_path: Path) -> None:
    rng = np.random.default_rng(31)
    (tmp_path / "train.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in training_rows(rng, 20_000)))
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in scored_events(
        rng, START, 10, MINUTE, 1_000, uncertainty=0.6, from_window=5)))
    topology = live_topology(local_stack, tmp_path)
    kafka_io.produce(local_stack.broker_url, topology.source, jsonl_lines(events))
    worker = Worker(local_stack, topology, tmp_path)
    try:
        worker.wait_for(lambda status: (status["monitors"]["scores"]["last_evaluated_window"] or {}).get("start")
                        == iso(START + 8 * MINUTE), timeout=120.0)
    finally:
        worker.stop()
    alerts = [a for a in topic_records(local_stack, topology.alerts, schema=ALERT)
              if a["check"] == "estimated_performance"]
    assert [(a["window"]["start"], a["status"], a["severity"], a["feature"]) for a in alerts] == [
        (iso(START + 5 * MINUTE), "firing", "critical", "score")]
    assert "calibrated on 20,000 labelled rows of snapshot 'train.jsonl'" in alerts[0]["summary"]

    replayed = tmp_path / "replayed.jsonl"
    assert main(["replay", str(topology.path), str(events), "--alerts-out", str(replayed), "--quiet"]) == 0
    assert [r["id"] for line in jsonl_lines(replayed)
            if (r := orjson.loads(line))["check"] == "estimated_performance"] == [a["id"] for a in alerts]
