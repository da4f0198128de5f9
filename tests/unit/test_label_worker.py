"""The label join on a worker, on the in-memory store: predictions from folded batches, labels from the
label agent, ticks after window closes, and a worker killed while labels are pending losing no join."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import orjson
import pytest

from stream_guard.adapters.memory_store import MemoryStateStore
from stream_guard.core.decoding.records import RawRecord
from stream_guard.core.labels.tracker import PerformanceTracker
from stream_guard.core.state import JoinState
from stream_guard.core.topology.file import load_topology
from stream_guard.core.topology.services import StateSpec
from stream_guard.offline.label_scenario import START_MS, label_topology, label_traffic
from stream_guard.runtime.labels import LabelRuntime
from stream_guard.runtime.monitor_runtime import MonitorRuntime

from .test_worker_rules import Clock, Group, Sink


def worker(store: MemoryStateStore, tmp_path: Path) -> tuple[MonitorRuntime, LabelRuntime, Sink, Clock]:
    (tmp_path / "t.yaml").write_text(label_topology())
    spec = load_topology(tmp_path / "t.yaml").monitors[0]
    clock, sink = Clock(), Sink()
    clock.now = START_MS
    runtime = MonitorRuntime(spec, StateSpec(), store, sink, Group({0}, 1), clock=clock)
    runtime._retrying.delays = (0.0,)
    tracker = PerformanceTracker.for_monitor(spec)
    assert tracker is not None
    join = LabelRuntime(runtime, tracker, store, sink, Group({0}, 1))
    runtime.extensions.append(join)
    return runtime, join, sink, clock


def as_records(rows: list[dict[str, object]], topic: str, first: int) -> list[RawRecord]:
    return [RawRecord(orjson.dumps(r), 0, first + i, topic) for i, r in enumerate(rows)]


async def run(store: MemoryStateStore, tmp_path: Path, events: list[dict[str, object]],
              labels: list[dict[str, object]], kill_after: int | None = None) -> list[dict[str, object]]:
    runtime, join, sink, clock = worker(store, tmp_path)
    await runtime.start()
    given = 0
    for i in range(0, len(events), 300):
        chunk = events[i:i + 300]
        clock.now = int(chunk[-1]["ts"])                        # type: ignore[call-overload]
        await runtime.on_records(as_records(chunk, "labels-demo.predictions", i))
        due = [r for r in labels[given:] if int(r["ts"]) <= clock.now]   # type: ignore[call-overload]
        await join.on_labels(as_records(due, "labels-demo.labels", given))
        given += len(due)
        if kill_after is not None and i >= kill_after:
            return sink.sent   # killed (kill -9): what was taken since the last save is not stored
        await runtime.tick()
        await join.tick()
    return sink.sent


def test_a_worker_killed_while_labels_are_pending_loses_no_join(tmp_path: Path) -> None:
    events, labels = label_traffic(windows=10, per_window=600, broken_from=6, max_delay=150_000)
    whole = asyncio.run(run(MemoryStateStore(), tmp_path, events, labels))
    store = MemoryStateStore()
    before = asyncio.run(run(store, tmp_path, events, labels, kill_after=3000))
    assert asyncio.run(store.load_join("scorer")).pending          # predictions were waiting for labels
    after = asyncio.run(run(store, tmp_path, events, labels))      # the next worker reads everything again
    ids = {a["id"] for a in whole if a["check"] == "performance"}
    assert ids and ids == {a["id"] for a in before + after if a["check"] == "performance"}
    assert any(a["severity"] == "critical" and a["window"]["start"] == "2026-01-01T00:06:00Z" for a in whole)


def test_status_shows_per_window_label_coverage(tmp_path: Path) -> None:
    events, labels = label_traffic(windows=5, per_window=300)

    async def go() -> dict[str, object]:
        runtime, join, _, _ = worker(MemoryStateStore(), tmp_path)
        await run_into(runtime, join, events, labels)
        return join.status()["labels"]

    status = asyncio.run(go())
    windows = status["windows"]   # type: ignore[index]
    assert windows and {"start", "predicted", "labelled", "coverage", "severity"} <= set(windows[0])


async def run_into(runtime: MonitorRuntime, join: LabelRuntime, events: list[dict[str, object]],
                   labels: list[dict[str, object]]) -> None:
    await runtime.start()
    await runtime.on_records(as_records(events, "labels-demo.predictions", 0))
    await join.on_labels(as_records(labels, "labels-demo.labels", 0))
    await runtime.tick()
    await join.tick()


def replayed(tmp_path: Path, events: list[dict[str, object]], labels: list[dict[str, object]]) -> list[str]:
    """The performance alert ids `replay --labels` gives for the same predictions and labels."""
    from stream_guard.offline.replay import replay

    for name, rows in (("e.jsonl", events), ("l.jsonl", labels)):
        (tmp_path / name).write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    (tmp_path / "t.yaml").write_text(label_topology())
    alerts: list[dict[str, object]] = []
    replay(load_topology(tmp_path / "t.yaml"), tmp_path / "e.jsonl", alerts.append, lambda r: None, lambda r: None,
           labels=tmp_path / "l.jsonl")
    return [str(a["id"]) for a in alerts if a["check"] == "performance"]


def test_a_worker_catching_up_on_a_backlog_ticks_every_window_it_closed_as_replay_does(tmp_path: Path) -> None:
    events, labels = label_traffic(windows=10, per_window=400, broken_from=6, max_delay=150_000)

    async def go() -> list[dict[str, object]]:
        runtime, join, sink, clock = worker(MemoryStateStore(), tmp_path)
        await runtime.start()
        clock.now = int(events[-1]["ts"])                            # type: ignore[call-overload]
        await runtime.on_records(as_records(events, "labels-demo.predictions", 0))   # closes windows 0-8 at once
        assert runtime.engine.last_evaluated == START_MS + 8 * 60_000
        await join.on_labels(as_records(labels, "labels-demo.labels", 0))
        await join.tick()
        return sink.sent

    live = [str(a["id"]) for a in asyncio.run(go()) if a["check"] == "performance"]
    assert live and live == replayed(tmp_path, events, labels)


def test_after_a_restart_ticks_wait_for_labels_still_on_the_label_topic_however_long_the_start_took(
        tmp_path: Path) -> None:
    events, labels = label_traffic(windows=10, per_window=400, broken_from=6, max_delay=150_000)
    store = MemoryStateStore()
    before = asyncio.run(run(store, tmp_path, events, labels, kill_after=1600))

    async def restart() -> list[dict[str, object]]:
        runtime, join, sink, clock = worker(store, tmp_path)
        await runtime.start()
        ticked = (await store.load_join("scorer")).ticked
        assert isinstance(join.labels, Group)
        join.labels.ends[0] = len(labels)        # the label topic holds every label; none delivered yet
        clock.now = int(events[-1]["ts"]) + 60_000   # the worker took longer than idle_timeout to start
        await runtime.on_records(as_records(events, "labels-demo.predictions", 0))
        await join.tick()
        clock.now += 20_000                      # silent past idle_timeout, with labels unread on the topic
        await join.tick()
        assert join.tracker.join.ticked == ticked
        await join.on_labels(as_records(labels, "labels-demo.labels", 0))
        await join.tick()
        return sink.sent

    after = asyncio.run(restart())
    live = [str(a["id"]) for a in before + after if a["check"] == "performance"]
    assert live and list(dict.fromkeys(live)) == replayed(tmp_path, events, labels)


def test_a_tick_waits_for_the_slowest_label_partition(tmp_path: Path) -> None:
    events, labels = label_traffic(windows=10, per_window=400, broken_from=6, max_delay=150_000)
    halves = [labels[0::2], labels[1::2]]          # a label topic of two partitions
    behind = START_MS + 4 * 60_000                   # partition 1 has delivered labels up to here only

    def on(partition: int, rows: list[dict[str, object]], first: int = 0) -> list[RawRecord]:
        return [RawRecord(orjson.dumps(r), partition, first + i, "labels-demo.labels") for i, r in enumerate(rows)]

    async def go() -> list[dict[str, object]]:
        runtime, join, sink, clock = worker(MemoryStateStore(), tmp_path)
        join.labels = Group({0, 1}, 2)
        await runtime.start()
        clock.now = int(events[-1]["ts"])            # type: ignore[call-overload]
        await runtime.on_records(as_records(events, "labels-demo.predictions", 0))
        early = sum(1 for r in halves[1] if int(r["ts"]) < behind)   # type: ignore[call-overload]
        await join.on_labels(on(0, halves[0]) + on(1, halves[1][:early]))
        await join.tick()
        assert join.tracker.join.ticked is not None and join.tracker.join.ticked <= behind - 5_000
        await join.on_labels(on(1, halves[1][early:], early))
        await join.tick()
        return sink.sent

    live = [str(a["id"]) for a in asyncio.run(go()) if a["check"] == "performance"]
    assert live and live == replayed(tmp_path, events, labels)


def test_label_partitions_no_join_reads_are_named_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    events, _ = label_traffic(windows=3, per_window=100)

    async def go() -> None:
        runtime, join, _, _ = worker(MemoryStateStore(), tmp_path)
        join.labels = Group({0}, 3)                 # partitions 1 and 2 went to another worker of the group
        await runtime.start()
        await runtime.on_records(as_records(events, "labels-demo.predictions", 0))
        await join.tick()
        await join.tick()

    with caplog.at_level(logging.WARNING, logger="stream_guard.worker"):
        asyncio.run(go())
    assert [r.getMessage() for r in caplog.records] == [
        "scorer: label partitions 1, 2 of labels-demo.labels are assigned to other workers of the group, which do "
        "not join them; their labels are not credited: run a monitor with labels on one worker (docs/checks.md, "
        "the join's limit)"]


def test_a_worker_that_does_not_evaluate_leaves_labels_without_holding_up_its_consumer(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    events, labels = label_traffic(windows=3, per_window=100)

    async def go() -> LabelRuntime:
        runtime, join, _, _ = worker(MemoryStateStore(), tmp_path)
        runtime.source = Group({1}, 2)             # partition 0, and the evaluation, are another worker's
        await runtime.start()
        await asyncio.wait_for(join.on_labels(as_records(labels, "labels-demo.labels", 0)), timeout=1)
        await join.tick()
        await join.tick()
        return join

    with caplog.at_level(logging.WARNING, logger="stream_guard.worker"):
        join = asyncio.run(go())
    assert not join.tracker.join.labels and not join.tracker.offsets
    assert [r.getMessage() for r in caplog.records] == [
        "scorer: label partitions 0 of labels-demo.labels are assigned to this worker, which does not evaluate the "
        "monitor: it leaves them; their labels are not credited: run a monitor with labels on one worker "
        "(docs/checks.md, the join's limit)"]


class SlowJoinRead(MemoryStateStore):
    """A store whose first read of the join takes a while (a Redis under load), the next ones none."""

    def __init__(self) -> None:
        super().__init__()
        self.join_reads = 0

    async def load_join(self, monitor: str) -> JoinState:
        self.join_reads += 1
        await asyncio.sleep(0.05 if self.join_reads == 1 else 0)
        return await super().load_join(monitor)


def test_predictions_and_labels_coming_together_at_the_start_read_the_join_back_once(tmp_path: Path) -> None:
    """Read back twice at once, the second read replaced what the first let in (predictions lost)."""
    events, labels = label_traffic(windows=2, per_window=300)
    first = [e for e in events if int(e["ts"]) < START_MS + 60_000]           # type: ignore[call-overload]
    firsts = {e["request_id"] for e in first}
    others = [r for r in labels if r["request_id"] not in firsts][:50]        # their predictions come later
    store = SlowJoinRead()

    async def go() -> dict[str, object]:
        runtime, join, _, _ = worker(store, tmp_path)
        await runtime.start()
        await asyncio.gather(join.on_labels(as_records(others, "labels-demo.labels", 0)),
                             runtime.on_records(as_records(first, "labels-demo.predictions", 0)))
        return join.status()["labels"]

    status = asyncio.run(go())
    assert (store.join_reads, status["pending_predictions"], status["waiting_labels"]) == (1, len(first), 50)
