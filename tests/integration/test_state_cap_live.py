"""The state cap in a live worker on the real broker and Redis: every event counted, the cap reached in
every window, said in /status and /metrics, and the same `state_cap` alert as a replay of the same events."""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest

from stream_guard.adapters import kafka_io
from stream_guard.core.topology.file import load_topology
from stream_guard.offline import scenario
from stream_guard.offline.replay import replay
from stream_guard.runtime.local_stack import LocalStack

from .live import ALERT, Worker, fresh_topology, wait_for_records

pytestmark = pytest.mark.integration

START = 1_800_000_000_000 - 1_800_000_000_000 % 60_000
PER_WINDOW = 600
WINDOWS = 4           # windows 0 to 2 close; the last one stays open (no event passes its end + grace)


def counted(status: dict[str, Any], key: str) -> int:
    return sum(int(p[key]) for p in status["monitors"]["fraud-model"]["partitions"].values())


def test_a_worker_at_its_state_cap_counts_every_event_says_so_and_alerts_as_replay_does(
        local_stack: LocalStack, tmp_path: Path) -> None:
    topology = fresh_topology(local_stack, tmp_path)
    window_line = "    window: {size: 1m, grace: 5s}\n"
    text = topology.path.read_text()
    assert window_line in text
    # every event its own segment: about 200 segments per partition window, far past a 64KiB cap
    topology.path.write_text(text.replace(window_line, window_line + "    segment_by: [event_id]\n"
                                          "    max_segments: 1000\n    max_window_bytes: 64KiB\n", 1))
    events = [orjson.dumps(e) for w in range(WINDOWS)
              for e in scenario.window_events(w, START, PER_WINDOW, faults=False)]
    kafka_io.produce(local_stack.broker_url, topology.source, iter(events))
    worker = Worker(local_stack, topology, tmp_path)
    try:
        status = worker.wait_for(lambda s: counted(s, "consumed") == len(events)
                                 and s["monitors"]["fraud-model"]["state"]["windows_over_cap"] == 3, timeout=180)
        alerts = wait_for_records(local_stack, topology.alerts, 1, schema=ALERT, timeout=60)
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/metrics", timeout=5) as response:
            metrics = response.read().decode()
    finally:
        worker.stop()
    state = status["monitors"]["fraud-model"]["state"]
    assert counted(status, "folded") + counted(status, "dead_lettered") == len(events) == 2_400
    assert state["max_window_bytes"] == 64 * 1024 and state["pooled_events"] > 0
    assert state["last_over_cap"]["start"] == "2027-01-15T08:02:00Z"
    assert 'stream_guard_windows_over_state_cap_total{monitor="fraud-model"} 3.0' in metrics
    assert f'stream_guard_state_pooled_events_total{{monitor="fraud-model"}} {float(state["pooled_events"])}' in metrics
    assert 'stream_guard_max_window_bytes{monitor="fraud-model"} 65536.0' in metrics

    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(events))
    replayed: list[dict[str, Any]] = []
    replay(load_topology(topology.path), path, replayed.append, lambda e: None, lambda d: None)

    def capped(records: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
        return [(a["id"], a["severity"], a["status"], a["window"]["start"]) for a in records
                if a["check"] == "state_cap"]
    assert capped(alerts) == capped(replayed) == [(capped(replayed)[0][0], "warning", "firing",
                                                    "2027-01-15T08:00:00Z")]
