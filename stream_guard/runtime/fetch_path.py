"""The fetch path: a source topic's records reach its monitor's agent a fetch at a time.

Faust's own path makes one event per record: a `wait_first` in the consumer's drain loop, a conductor
callback, a channel put and a stream step each, about 95 µs of the 100 µs a per-message record cost. Here
Faust still owns the consumer, the group membership, the assignment and the rebalance callbacks, and each
monitor's agent still iterates its source topic (so Faust subscribes to it as before); but the consumer
(`faust_internals.HandingConsumer`) offers every fetch to `FetchTransport.hand_over` first, which takes each
source partition's records out of it and puts them, as `RawRecord`s in slices of at most the source's
`batch_size`, on the queue the agent's stream reads: one item per slice, not one event per record. The
agent hands each slice to `MonitorRuntime.on_records`; Faust's own path is left with nothing of the topic.

Flow control: an agent's queue holds at most `QUEUED_BATCHES` slices. When it is full (the runtime is
waiting for Redis, say) the consumer's drain loop waits to put, so it asks for no new fetch, and aiokafka
keeps at most one completed fetch per partition, fetching no more for it until that one is taken. A worker
holds at most, per monitor, `QUEUED_BATCHES` slices + the fetch in the drain loop's hands + one fetch per
assigned partition in aiokafka, each at most `consumer_max_fetch_size` of payload (1 MiB per partition).

Rebalances are Faust's: flow is suspended and the queues cleared, and records fetched before it are read
again after the seek to the committed offsets that follows, so a fetch taken while flow is stopped, or of
a paused partition, is not handed over, and the agent leaves out a slice of an earlier generation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from functools import partial
from itertools import repeat
from operator import attrgetter
from typing import Any, NamedTuple

import faust
from faust.transport import by_url
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from stream_guard.core.decoding.records import RawRecord
from stream_guard.core.topology.monitor import MonitorSpec
from stream_guard.runtime.faust_internals import HandingConsumer
from stream_guard.runtime.schema_loading import RecordSink

QUEUED_BATCHES = 4   # slices waiting for an agent; a full queue stops the fetching


class FetchedRecords(NamedTuple):
    """A slice of one fetch of one source partition, and the consumer generation it was fetched in."""

    records: list[RawRecord]
    generation: int


class SourceInlet:
    """Where a monitor's share of a source topic's fetches goes: the queue its agent's stream reads, in
    slices of at most `batch_size` records."""

    def __init__(self, app: faust.App, batch_size: int) -> None:
        self.app = app
        self.batch_size = batch_size
        self._queue: Any = None
        self._attached = asyncio.Event()

    def attach(self, channel: Any) -> None:
        """The agent's stream reads `channel` (called as the agent starts; fetches wait for it)."""
        self._queue = channel.queue
        self._attached.set()

    async def put(self, records: list[RawRecord], generation: int) -> None:
        await self._attached.wait()
        size = self.batch_size
        for start in range(0, len(records), size):
            await self._put(FetchedRecords(records[start:start + size], generation))

    async def _put(self, item: FetchedRecords) -> None:
        """Put at once when there is room and flow is on; else wait until there is (a full queue, a rebalance)."""
        queue = self._queue
        if self.app.flow_control.is_active() and not queue.full():
            queue.put_nowait(item)
            return
        # a task of its own, as Faust's conductor does: a rebalance clearing the queue cancels the waiting
        # put (the slice is read again after the seek that follows), not the consumer's drain loop
        putting = asyncio.ensure_future(queue.put(item))
        try:
            await asyncio.wait([putting])
        except asyncio.CancelledError:
            putting.cancel()
            raise


class Handed(NamedTuple):
    """What the fetch path handed over of a source partition in one consumer generation (one assignment,
    so one claim of the partition by each monitor reading it)."""

    generation: int
    first: int     # the lowest offset handed over: where the consumer began reading it (`core.ownership.unread`)
    end: int       # the offset after the last record handed over


class FetchTransport(faust_aiokafka.Transport):
    """Faust's aiokafka transport, whose consumer offers each fetch to `hand_over`."""

    Consumer = HandingConsumer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.inlets: dict[str, list[SourceInlet]] = {}
        self.handed: dict[TP, Handed] = {}   # source partition -> what was handed over of it

    def handed_now(self, tp: TP) -> Handed | None:
        """What was handed over of a partition since the consumer was last given its partitions (None: nothing)."""
        handed = self.handed.get(tp)
        return handed if handed is not None and handed.generation == self.app.consumer_generation_id else None

    def _handing(self, tp: TP, first: int, end: int, generation: int) -> None:
        was = self.handed.get(tp)
        if was is not None and was.generation == generation:
            first = min(first, was.first)
        self.handed[tp] = Handed(generation, first, end)

    async def hand_over(self, fetched: MutableMapping[TP, list[Any]], active: set[TP] | None) -> None:
        """Take each source partition's records out of a fetch and put them in the topic's inlets; none
        while flow is stopped (a rebalance began: Faust seeks back) or of a partition no longer active."""
        app = self.app
        consumer: Any = app.consumer
        generation = app.consumer_generation_id
        taken = [(tp, fetched.pop(tp)) for tp in [tp for tp in fetched if tp.topic in self.inlets]]
        # every partition's first and end first: the consumer's position is past them all while the first
        # one's records are put, and until then the others' records are unread as far as the runtime can tell
        for tp, batch in taken:
            if batch and consumer.flow_active and (active is None or tp in active):
                self._handing(tp, batch[0].offset, batch[-1].offset + 1, generation)
        for tp, batch in taken:
            if not consumer.flow_active or (active is not None and tp not in active):
                continue
            app.monitor.track_tp_end_offset(tp, consumer.highwater(tp))
            records = _raw_records(tp, batch)
            for inlet in self.inlets[tp.topic]:
                await inlet.put(records, generation)


_raw_record = partial(tuple.__new__, RawRecord)
_value, _offset = attrgetter("value"), attrgetter("offset")


def _raw_records(tp: TP, batch: Sequence[Any]) -> list[RawRecord]:
    """aiokafka's records as the core's: made in C (map and zip over the batch), a third cheaper than a loop."""
    fields = zip(map(_value, batch), repeat(tp.partition), map(_offset, batch), repeat(tp.topic))
    return list(map(_raw_record, fields))


def install_fetch_path(app: faust.App) -> FetchTransport:
    """Make `app` consume through the fetch path; call before anything has used its transport."""
    urls = app.conf.broker_consumer
    if not issubclass(by_url(urls[0]), faust_aiokafka.Transport):
        raise ValueError(f"stream_guard consumes with Faust's aiokafka driver; {urls[0]} names another")
    transport = FetchTransport(urls, app)
    app.transport = transport
    return transport


def add_fold_agent(app: faust.App, transport: FetchTransport, monitor: MonitorSpec, runtime: RecordSink) -> None:
    """One agent per monitor: it iterates the source topic (Faust subscribes to it) and gets slices of fetches."""
    add_fetch_agent(app, transport, monitor.source.topic, monitor.source.messages_per_batch(),
                    f"stream_guard.fold.{monitor.name}", runtime.on_records)


def add_fetch_agent(app: faust.App, transport: FetchTransport, topic_name: str, batch_size: int, name: str,
                    take: Callable[[list[RawRecord]], Awaitable[None]]) -> None:
    """An agent that iterates `topic_name` (Faust subscribes to it) and hands `take` each slice of at most
    `batch_size` records of a fetch, leaving out slices of an earlier consumer generation."""
    # acks off: Faust never commits this topic; stream_guard commits what Redis has stored
    topic = app.topic(topic_name, key_type=bytes, value_type=bytes, key_serializer="raw",
                      value_serializer="raw", acks=False, maxsize=QUEUED_BATCHES)
    inlet = SourceInlet(app, batch_size)
    transport.inlets.setdefault(topic_name, []).append(inlet)

    async def fold(stream: Any) -> None:
        inlet.attach(stream.channel)
        async for item in stream:
            if item.generation == app.consumer_generation_id:
                await take(item.records)

    app.agent(topic, name=name)(fold)
