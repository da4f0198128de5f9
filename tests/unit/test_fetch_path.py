"""The fetch path hands a source partition's fetched records to its agent's queue in slices, and a full
queue holds the consumer back (runtime/fetch_path.py); no broker needed."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP
from mode.utils.queues import FlowControlEvent, ThrowableQueue

from stream_guard.core.decoding.records import RawRecord
from stream_guard.runtime.fetch_path import FetchedRecords, FetchTransport, Handed, SourceInlet

SOURCE, OTHER = "fraud.features", "other.topic"


def fetched(topic: str, partition: int, count: int) -> list[Any]:
    return [SimpleNamespace(value=f"{topic}-{i}".encode(), offset=100 + i) for i in range(count)]


def setup(batch_size: int = 2, maxsize: int = 10, flow_active: bool = True) -> tuple[FetchTransport, Any]:
    flow = FlowControlEvent(initially_suspended=False)
    app: Any = SimpleNamespace(
        consumer=SimpleNamespace(flow_active=flow_active, highwater=lambda tp: 1000),
        consumer_generation_id=3, monitor=SimpleNamespace(track_tp_end_offset=lambda tp, offset: None),
        flow_control=flow)
    transport = FetchTransport(["kafka://127.0.0.1:9092"], app)
    inlet = SourceInlet(app, batch_size)
    queue: ThrowableQueue[Any] = ThrowableQueue(maxsize=maxsize, flow_control=flow, clear_on_resume=True)
    inlet.attach(SimpleNamespace(queue=queue))
    transport.inlets[SOURCE] = [inlet]
    return transport, queue


def drain(queue: Any) -> list[FetchedRecords]:
    return [queue.get_nowait() for _ in range(queue.qsize())]


def test_a_source_partitions_records_leave_the_fetch_in_slices_of_the_batch_size() -> None:
    transport, queue = setup(batch_size=2)
    fetch = {TP(SOURCE, 1): fetched(SOURCE, 1, 5), TP(OTHER, 0): fetched(OTHER, 0, 2)}
    asyncio.run(transport.hand_over(fetch, None))
    assert list(fetch) == [TP(OTHER, 0)]   # what is not a source's stays for Faust's own path
    slices = drain(queue)
    assert [len(s.records) for s in slices] == [2, 2, 1]
    assert {s.generation for s in slices} == {3}
    assert slices[0].records[0] == RawRecord(b"fraud.features-0", 1, 100, SOURCE)
    assert type(slices[0].records[0]) is RawRecord


def test_nothing_is_handed_over_while_flow_is_stopped() -> None:
    transport, queue = setup(flow_active=False)
    fetch = {TP(SOURCE, 0): fetched(SOURCE, 0, 3)}
    asyncio.run(transport.hand_over(fetch, None))
    assert fetch == {} and queue.empty()


def test_a_partition_that_is_not_active_is_not_handed_over() -> None:
    transport, queue = setup()
    asyncio.run(transport.hand_over({TP(SOURCE, 0): fetched(SOURCE, 0, 3), TP(SOURCE, 1): fetched(SOURCE, 1, 1)},
                                    {TP(SOURCE, 1)}))
    assert [r.partition for s in drain(queue) for r in s.records] == [1]


def test_a_full_queue_holds_the_consumer_until_the_agent_takes_a_slice() -> None:
    async def scenario() -> list[int]:
        transport, queue = setup(batch_size=1, maxsize=1)
        handing = asyncio.ensure_future(transport.hand_over({TP(SOURCE, 0): fetched(SOURCE, 0, 3)}, None))
        taken = []
        for _ in range(3):
            await asyncio.sleep(0.05)
            assert queue.qsize() == 1
            taken.append(queue.get_nowait().records[0].offset)
        await asyncio.wait_for(handing, 1)
        return taken

    assert asyncio.run(scenario()) == [100, 101, 102]


def test_a_rebalance_clearing_the_queue_releases_a_waiting_consumer() -> None:
    async def scenario() -> None:
        transport, queue = setup(batch_size=1, maxsize=1)
        handing = asyncio.ensure_future(transport.hand_over({TP(SOURCE, 0): fetched(SOURCE, 0, 2)}, None))
        await asyncio.sleep(0.05)
        queue.clear()   # what Faust's flow control does on a revocation: the waiting put is cancelled
        await asyncio.wait_for(handing, 1)   # the consumer's drain loop goes on, not cancelled with it

    asyncio.run(scenario())


def test_where_each_partitions_records_end_is_known_before_the_first_is_put() -> None:
    """While partition 0's slices wait for room, the consumer's position is past partition 1's records too:
    the runtime must already know they end at 103 (not folded yet), or it would take partition 1 for idle."""
    async def scenario() -> dict[TP, int]:
        transport, queue = setup(batch_size=1, maxsize=1)
        handing = asyncio.ensure_future(transport.hand_over(
            {TP(SOURCE, 0): fetched(SOURCE, 0, 3), TP(SOURCE, 1): fetched(SOURCE, 1, 3)}, None))
        await asyncio.sleep(0.05)
        known = {tp: h.end for tp, h in transport.handed.items()}   # partition 0's second slice waits for room
        while not handing.done():
            drain(queue)
            await asyncio.sleep(0.01)
        return known

    assert asyncio.run(scenario()) == {TP(SOURCE, 0): 103, TP(SOURCE, 1): 103}


def test_records_to_fold_end_at_the_log_end_until_read_there_then_at_the_last_record_handed_over(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A log ending in a transaction marker (offset 109, records to 108) is not taken for one with a
    record unread once the consumer has read past the marker."""
    from stream_guard.runtime import app as worker_app

    transport, _ = setup()
    tp = TP(SOURCE, 0)
    ends: dict[TP, int | None] = {tp: 110}
    transport.app.consumer.assignment = lambda: {tp}
    transport.app.consumer.highwater = ends.get
    transport.app.transport = transport
    position = {"at": 105}
    monkeypatch.setattr(worker_app, "consumer_position", lambda app, tp: position["at"])
    source = worker_app.FaustSource(transport.app, SOURCE)
    assert source.unread_end(0) == 110                # not read to the end yet
    position["at"] = 110
    assert source.unread_end(0) is None               # read to the end, and all it read was markers
    transport.handed[tp] = Handed(3, 100, 109)        # the last record handed over was 108
    assert source.unread_end(0) == 109
    ends[tp] = None
    assert source.unread_end(0) is None               # no fetch has said where the log ends


def test_reading_began_at_the_first_record_handed_over_since_the_assignment_else_at_the_consumers_position(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """After a Redis failover without WAIT the stored next offset (1,981) is behind Kafka's committed one
    (2,400), where the consumer starts: records below never come to this worker. A partition given again
    (a new consumer generation) does not keep what was handed over of it before."""
    from stream_guard.runtime import app as worker_app

    transport, queue = setup()
    tp = TP(SOURCE, 0)
    transport.app.transport = transport
    monkeypatch.setattr(worker_app, "consumer_position", lambda app, tp: 2_400)
    source = worker_app.FaustSource(transport.app, SOURCE)
    assert source.read_from(0) == 2_400               # nothing handed over yet: where the consumer is
    later = [SimpleNamespace(value=b"x", offset=103 + i) for i in range(2)]
    asyncio.run(transport.hand_over({tp: later}, None))                    # fetched before, handed over first
    asyncio.run(transport.hand_over({tp: fetched(SOURCE, 0, 3)}, None))    # then read from where it began
    assert (source.read_from(0), transport.handed_now(tp)) == (100, Handed(3, 100, 103))
    transport.app.consumer_generation_id = 4          # a rebalance gave the partition again
    assert (source.read_from(0), transport.handed_now(tp)) == (2_400, None)
    asyncio.run(transport.hand_over({tp: fetched(SOURCE, 0, 1)}, {TP(SOURCE, 1)}))   # no longer active
    assert transport.handed_now(tp) is None
    drain(queue)
