"""Named references on the live path: the worker finds a stored snapshot named under `references:`,
judges the check that names it against it, the rest against the recent windows, and gives the alerts
`replay` gives."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from stream_guard.adapters import kafka_io
from stream_guard.cli.main import main
from stream_guard.offline import scenario
from stream_guard.runtime.local_stack import LocalStack

from .live import ALERT, Worker, fresh_topology, jsonl_lines, topic_records
from .test_live_path import START, consumed_and_closed, window_index

pytestmark = pytest.mark.integration

NAMED = """    references:
      recent: {kind: rolling, windows: 5, min_windows: 3}
      training: {kind: snapshot, name: train}
"""


def test_the_worker_judges_each_check_against_its_named_reference(local_stack: LocalStack, tmp_path: Path) -> None:
    topology = fresh_topology(local_stack, tmp_path)
    text = topology.path.read_text()
    text = text.replace("    reference: {kind: rolling, windows: 5, min_windows: 3}\n", NAMED)
    text = text.replace("mean_shift:        {warning: 0.2, critical: 0.4}",
                        "mean_shift:        {warning: 0.2, critical: 0.4, reference: training}")
    topology.path.write_text(text)
    events = [orjson.dumps(e) for e in scenario.stream(12, START, 1200)]
    (tmp_path / "train.jsonl").write_bytes(b"\n".join(events[:2 * 1200]) + b"\n")   # two clean windows
    (tmp_path / "events.jsonl").write_bytes(b"\n".join(events) + b"\n")
    redis_flag = ["--redis", local_stack.redis_url]
    assert main(["reference", "build", str(topology.path), str(tmp_path / "train.jsonl"), "--name", "train",
                 *redis_flag]) == 0

    kafka_io.produce(local_stack.broker_url, topology.source, jsonl_lines(tmp_path / "events.jsonl"))
    worker = Worker(local_stack, topology, tmp_path)
    try:
        worker.wait_for(consumed_and_closed(12 * 1200, window=10))
    finally:
        worker.stop()
    alerts = topic_records(local_stack, topology.alerts, schema=ALERT)

    shifts = [(window_index(a), a["status"], a["severity"], a["reference"]) for a in alerts
              if (a["feature"], a["check"]) == ("amount", "mean_shift")]
    assert shifts[0] == (4, "firing", "critical", {"kind": "snapshot", "start": None, "end": None, "name": "training"})
    assert {a["reference"]["name"] for a in alerts if a["check"] != "mean_shift"} == {"recent"}
    drift = next(a for a in alerts if (a["feature"], a["check"]) == ("amount", "numeric_drift"))
    assert drift["reference"]["kind"] == "rolling" and window_index(drift) == 4

    # parity: replay finds the same stored snapshot and gives the same alerts, reference names included
    replayed = tmp_path / "replayed.jsonl"
    assert main(["replay", str(topology.path), str(tmp_path / "events.jsonl"), "--alerts-out", str(replayed),
                 "--quiet", *redis_flag]) == 0
    offline = [orjson.loads(line) for line in jsonl_lines(replayed)]
    assert [(a["id"], a["reference"]) for a in offline] == [(a["id"], a["reference"]) for a in alerts]
