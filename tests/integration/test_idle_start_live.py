"""A worker that has read nothing for longer than `source.idle_timeout`, then finds a burst on every
partition at once (a backfill produced at full speed): partitions whose records it has not folded yet
are not taken for idle, so no event is dead-lettered as `late` and every window closes with all its
events. The burst is produced while the worker is paused for less than two flush intervals (a pause that
long is not taken for a stalled worker), so its first fetch finds it all in the log: a megabyte of
partition 0 is folded before partition 1's first record."""

from __future__ import annotations

import re
import time
from pathlib import Path

import orjson
import pytest

from stream_guard.adapters import kafka_io
from stream_guard.offline import scenario
from stream_guard.runtime.local_stack import LocalStack

from .live import Worker, fresh_topology

pytestmark = pytest.mark.integration

PER_WINDOW = 1_200
WINDOWS = 23           # as the demo's 27,600 events; the last window stays open (its end plus grace is not passed)
FLUSH = 5              # seconds: state.flush_interval of the test topology; idle_timeout stays 10 s (twice that)
CLOSED = re.compile(r"fraud-model: window (\S+) closed: ([\d,]+) events")


def test_a_burst_after_a_silence_longer_than_the_idle_timeout_loses_no_event_to_late(
        local_stack: LocalStack, tmp_path: Path) -> None:
    topology = fresh_topology(local_stack, tmp_path)
    text = topology.path.read_text()
    assert text.count("  flush_interval: 1s") == 1
    topology.path.write_text(text.replace("  flush_interval: 1s", f"  flush_interval: {FLUSH}s"))
    start = (int(time.time() * 1000) // 60_000 - 25) * 60_000    # as the demo's: 25 minutes back
    events = [orjson.dumps(e) for w in range(WINDOWS)
              for e in scenario.window_events(w, start, PER_WINDOW, faults=False)]
    worker = Worker(local_stack, topology, tmp_path)
    try:
        worker.wait_for(lambda s: len(s["monitors"]["fraud-model"]["partitions"]) == 3, timeout=60)
        time.sleep(12)                      # every partition silent since its claim, past the 10 s idle timeout
        worker.pause()
        began = time.monotonic()
        delivery = kafka_io.produce(local_stack.broker_url, topology.source, iter(events))
        time.sleep(max(0.0, 1.0 - (time.monotonic() - began)))
        paused = time.monotonic() - began
        worker.resume()
        status = worker.wait_for(lambda s: total(s, "consumed") == len(events), timeout=60)
        deadline = time.monotonic() + 30
        while len(CLOSED.findall(worker.log())) < WINDOWS - 1 and time.monotonic() < deadline:
            time.sleep(0.3)
        closed = CLOSED.findall(worker.log())
    finally:
        worker.stop()
    assert paused < 2 * FLUSH, f"producing took {paused:.1f}s: the worker's pause was taken for a stall"
    assert (delivery.acknowledged, delivery.failed) == (len(events), 0)
    assert (total(status, "dead_lettered"), total(status, "folded")) == (0, len(events))
    assert [int(n.replace(",", "")) for _, n in closed] == [PER_WINDOW] * (WINDOWS - 1)


def total(status: dict[str, object], key: str) -> int:
    partitions = status["monitors"]["fraud-model"]["partitions"]  # type: ignore[index]
    return sum(int(p[key]) for p in partitions.values())  # type: ignore[union-attr]
