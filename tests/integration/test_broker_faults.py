"""The broker paused for 30 s and resumed, and the broker restarted (it loses its log: the local broker
keeps everything in memory), while two workers fold a stream: nothing the broker still holds is lost or
counted twice, and the alerts are replay's.

Both tests run a broker of their own (beside the session's Redis), produce the faulty scenario of
`test_faults` in two halves around the fault, and check what Redis holds with the exact verifier of
`test_faults` (folded, dead-lettered and consumed counts, commits never ahead of Redis, every dead
letter, the alert ids of an undisturbed run in order).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from stream_guard.adapters import kafka_io
from stream_guard.runtime.local_stack import LocalStack, create_topics

from .live import ALERT, Worker, fresh_topology, jsonl_lines, topic_records
from .test_faults import (  # noqa: F401  (fixtures)
    BAD_LINES,
    GOOD,
    PARTITIONS,
    RATE,
    TOTAL,
    State,
    assert_exactly_once,
    events_file,
    two_workers,
    undisturbed_ids,
    workers,
)
from .test_log_reset_live import Broker, broker  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration
PAUSE_S = 30


def own_stack(session: LocalStack, own: Broker) -> LocalStack:
    return replace(session, broker_url=f"kafka://127.0.0.1:{own.port}", broker_port=own.port)


def test_a_broker_paused_for_30_seconds_mid_stream_loses_and_counts_twice_nothing(
        local_stack: LocalStack, broker: Broker, tmp_path: Path, events_file: Path,  # noqa: F811
        undisturbed_ids: list[str], workers: list[Worker]) -> None:  # noqa: F811
    stack = own_stack(local_stack, broker)
    topology = fresh_topology(stack, tmp_path)
    state = State(stack.redis_url, topology.app)
    first, second = two_workers(stack, topology, state, tmp_path, workers)
    lines = list(jsonl_lines(events_file))
    kafka_io.produce(stack.broker_url, topology.source, iter(lines[:TOTAL // 2]), rate=RATE)
    assert broker.process is not None
    broker.process.send_signal(19)   # SIGSTOP: fetches, commits, alerts and dead letters all stall
    try:
        time.sleep(PAUSE_S)
        # the workers answer meanwhile and say how long their partitions have been silent
        silent = [p["seconds_since_last_event"] for w in (first, second)
                  for m in (w.status() or {"monitors": {}})["monitors"].values() for p in m["partitions"].values()]
        assert len(silent) == len(PARTITIONS) and min(silent) >= PAUSE_S - 5, silent
    finally:
        broker.process.send_signal(18)   # SIGCONT
    kafka_io.produce(stack.broker_url, topology.source, iter(lines[TOTAL // 2:]), rate=RATE)
    state.wait_done(workers, timeout=180)
    assert_exactly_once(stack, topology, state, undisturbed_ids, workers)


def test_a_broker_restarted_mid_stream_has_its_new_log_folded_once_and_says_so(
        local_stack: LocalStack, broker: Broker, tmp_path: Path, events_file: Path,  # noqa: F811
        undisturbed_ids: list[str], workers: list[Worker]) -> None:  # noqa: F811
    stack = own_stack(local_stack, broker)
    topology = fresh_topology(stack, tmp_path)
    state = State(stack.redis_url, topology.app)
    first, second = two_workers(stack, topology, state, tmp_path, workers)
    lines, half = list(jsonl_lines(events_file)), TOTAL // 2
    kafka_io.produce(stack.broker_url, topology.source, iter(lines[:half]), rate=RATE)
    state.wait(lambda: state.total("consumed") == half, "the first half folded", 60, workers)
    broker.kill()                        # the log, the topics and the committed offsets are gone
    broker.start()
    create_topics(stack.bootstrap(), {topology.source: 3, topology.alerts: 1, topology.dead_letters: 1})
    # a few records first, so each partition's new log is seen to end below what was folded from it
    kafka_io.produce(stack.broker_url, topology.source, iter(lines[half:half + 90]))
    state.wait(lambda: all(state.meta(p).get("log_resets") == 1 for p in PARTITIONS),
               "every partition's log reset noticed", 120, workers)
    kafka_io.produce(stack.broker_url, topology.source, iter(lines[half + 90:]), rate=RATE)
    state.wait(lambda: state.total("consumed") == TOTAL, f"all {TOTAL} records consumed", 120, workers)
    assert (state.total("folded"), state.total("dead_lettered")) == (GOOD, len(BAD_LINES))
    statuses = [w.status() for w in (first, second)]
    resets = [p["log_resets"] for s in statuses if s for m in s["monitors"].values()
              for p in m["partitions"].values()]
    assert sorted(resets) == [1, 1, 1], statuses
    # the new log's alerts are on the new alert topic: the windows closed after the restart, plus log_reset
    alerts = topic_records(stack, topology.alerts, idle=2.0, schema=ALERT)
    assert {a["check"] for a in alerts if a["feature"] == "*" and a["check"] == "log_reset"} == {"log_reset"}
    assert all(a["id"] in undisturbed_ids for a in alerts if a["check"] != "log_reset")
    assert sum("the log restarted or was truncated" in w.log() for w in (first, second)) >= 1
