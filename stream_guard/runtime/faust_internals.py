"""Every Faust, mode and aiokafka internal stream_guard leans on, named here and nowhere else.

The worker stays a Faust app, but at a few points Faust has no public way to do what it needs:

- `Consumer._wait_next_records(timeout)`: takes a source topic's records out of each fetch, a partition
  at a time (`runtime/fetch_path.py`), before Faust turns them into one event each;
- `Consumer._commit(offsets)`: commits the offsets Redis stored, as given (Faust's `commit` only commits
  acked messages);
- `Consumer._thread._ensure_consumer()`: the aiokafka consumer, for a topic's partition count on every
  member of the group (Faust's `topic_partitions` knows it only on the leader);
- `AIOKafkaConsumerThread._create_worker_consumer(transport)`: wrapped to tune the consumer Faust builds
  (`runtime/faust_tuning.py`);
- `AIOKafkaConsumer._fetch_max_wait_ms`: the fetch wait, read when the consumer starts its fetcher (Faust
  fixes it at 1.5 s);
- `ServiceThread.shutdown_timeout`: how long the consumer thread's stop may take (60 s in Faust);
- `mode.Worker._schedule_shutdown(signal)`: overridden to bound a stop on a signal (`runtime/worker.py`);
- `Consumer.highwater(tp)` (aiokafka's `highwater(partition)`, updated by every fetch response, records or
  none): a partition's log end, so a silent partition with records not folded yet is not taken for idle
  (`core/ownership.behind`) and a log that restarted is noticed;
- `AIOKafkaConsumer._subscription.subscription.assignment.state_value(tp).position` (aiokafka's `position`
  is a coroutine of the consumer thread's loop): how far the consumer has read, past transaction markers,
  so a partition read to its end whose log ends in a marker is not taken for one with records unread, and
  where it began reading a partition given to it (records below never come: `core/ownership.unread`).

Public API the fetch path depends on is checked with them: `App.transport` (settable), `App.consumer_generation_id`,
`Consumer.flow_active`, `Transport.Consumer`, `Stream.channel`, `Channel.queue`. `problems()` says which of them
an installed version no longer has in the form used here; `tests/unit/test_faust_internals.py` fails with its
message, so an upgrade past the range pinned in pyproject.toml (`SUPPORTED`) is caught by a unit test, not
by a worker in production.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import import_module, metadata
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

SUPPORTED = {"faust-streaming": (0, 15), "aiokafka": (0, 14), "mode-streaming": (0, 7)}   # major.minor pinned


@dataclass(frozen=True)
class Internal:
    """One thing stream_guard uses: `path` is `module:Class.attribute`. A method is checked for its
    parameter names (`parameters`, self included), an instance attribute for being assigned in the source
    of `assigned_in` (a method of the same class), a class attribute or property for existing."""

    path: str
    used_for: str
    parameters: tuple[str, ...] | None = None
    assigned_in: str | None = None

    def problem(self) -> str | None:
        module, _, qualified = self.path.partition(":")
        owner_name, _, name = qualified.rpartition(".")
        try:
            owner: Any = getattr(import_module(module), owner_name)
        except (ImportError, AttributeError):
            return f"{module}.{owner_name} is gone"
        if self.assigned_in is not None:
            source = inspect.getsource(getattr(owner, self.assigned_in))
            return None if f"self.{name} =" in source else f"{owner_name}.{self.assigned_in} no longer sets self.{name}"
        if not hasattr(owner, name):
            return f"{owner_name}.{name} is gone"
        if self.parameters is None:
            return None
        found = tuple(inspect.signature(getattr(owner, name)).parameters)
        return None if found == self.parameters else f"parameters are now {found}, not {self.parameters}"


DRIVER = "faust.transport.drivers.aiokafka"
INTERNALS = (
    Internal("faust.transport.consumer:Consumer._wait_next_records", "taking a fetch a partition at a time",
             ("self", "timeout")),
    Internal("faust.transport.consumer:ThreadDelegateConsumer._commit", "committing offsets Redis stored",
             ("self", "offsets")),
    Internal("faust.transport.consumer:ThreadDelegateConsumer._thread", "reaching the aiokafka consumer",
             assigned_in="__init__"),
    Internal(f"{DRIVER}:AIOKafkaConsumerThread._ensure_consumer", "reaching the aiokafka consumer", ("self",)),
    Internal(f"{DRIVER}:AIOKafkaConsumerThread._create_worker_consumer", "tuning the consumer Faust builds",
             ("self", "transport")),
    Internal("aiokafka.consumer.consumer:AIOKafkaConsumer._fetch_max_wait_ms", "the fetch wait",
             assigned_in="__init__"),
    Internal("mode.threads:ServiceThread.shutdown_timeout", "bounding the consumer thread's stop"),
    Internal("mode.worker:Worker._schedule_shutdown", "bounding a stop on a signal", ("self", "signal")),
    Internal("faust.transport.consumer:ThreadDelegateConsumer.highwater", "a partition's log end as last fetched "
             "(a partition with records unread is not idle)", ("self", "tp")),
    Internal("aiokafka.consumer.consumer:AIOKafkaConsumer.highwater", "a partition's log end as last fetched",
             ("self", "partition")),
    Internal("aiokafka.consumer.consumer:AIOKafkaConsumer._subscription", "the consumer's position",
             assigned_in="__init__"),
    Internal("aiokafka.consumer.subscription_state:SubscriptionState.subscription", "the consumer's position"),
    Internal("aiokafka.consumer.subscription_state:Subscription.assignment", "the consumer's position"),
    Internal("aiokafka.consumer.subscription_state:Assignment.state_value", "the consumer's position",
             ("self", "tp")),
    Internal("aiokafka.consumer.subscription_state:TopicPartitionState.has_valid_position", "the consumer's position"),
    Internal("aiokafka.consumer.subscription_state:TopicPartitionState.position", "the consumer's position"),
    Internal("faust.app.base:App.transport", "installing the fetch path's transport"),
    Internal("faust.app.base:App.consumer_generation_id", "leaving out batches fetched before a rebalance"),
    Internal("faust.transport.consumer:Consumer.flow_active", "not handing over a fetch while flow is stopped"),
    Internal("faust.transport.base:Transport.Consumer", "the fetch path's consumer class"),
    Internal("faust.transport.base:Transport.__init__", "building the fetch path's transport",
             ("self", "url", "app", "loop")),
    Internal("faust.streams:Stream.channel", "the queue an agent reads", assigned_in="__init__"),
    Internal("faust.channels:Channel.queue", "the queue an agent reads"),
)


def problems() -> list[str]:
    """What changed in the installed Faust, mode or aiokafka that stream_guard relies on (empty: nothing)."""
    found = [f"{dist} {metadata.version(dist)} is outside the supported {major}.{minor}.x"
             for dist, (major, minor) in SUPPORTED.items()
             if tuple(int(p) for p in metadata.version(dist).split(".")[:2]) != (major, minor)]
    for internal in INTERNALS:
        problem = internal.problem()
        if problem is not None:
            found.append(f"{internal.path} ({internal.used_for}): {problem}")
    if not _aiokafka_fetch_wait_read_at_start():
        found.append("aiokafka.consumer.consumer:AIOKafkaConsumer.start (the fetch wait): it no longer reads "
                     "self._fetch_max_wait_ms, so setting it after construction has no effect")
    if not _aiokafka_highwater_set_by_every_fetch():
        found.append("aiokafka.consumer.fetcher:Fetcher._proc_fetch_request (a partition's log end): it no longer "
                     "sets tp_state.highwater from each fetch response, so a silent partition's log end may be stale")
    return found


def _aiokafka_highwater_set_by_every_fetch() -> bool:
    from aiokafka.consumer.fetcher import Fetcher

    return "tp_state.highwater = highwater" in inspect.getsource(Fetcher._proc_fetch_request)


def _aiokafka_fetch_wait_read_at_start() -> bool:
    from aiokafka import AIOKafkaConsumer

    return "self._fetch_max_wait_ms" in inspect.getsource(AIOKafkaConsumer.start)


# the uses themselves --------------------------------------------------------------------------------

async def commit_offsets(app: faust.App, offsets: Mapping[TP, int]) -> bool:
    """Commit `offsets` (next offsets to read) as given, acked or not."""
    consumer: Any = app.consumer
    return bool(await consumer._commit(offsets))


def kafka_consumer(app: faust.App) -> Any:
    """The aiokafka consumer Faust's consumer thread runs (raises before the worker has started it)."""
    consumer: Any = app.consumer
    return consumer._thread._ensure_consumer()


def consumer_position(app: faust.App, tp: TP) -> int | None:
    """The next offset the consumer will hand over of an assigned partition (past transaction markers);
    None when it has none yet (or the worker's consumer is not running)."""
    try:
        state = kafka_consumer(app)._subscription.subscription.assignment.state_value(tp)
    except Exception:  # not started, or not assigned (no subscription or assignment)
        return None
    return int(state.position) if state is not None and state.has_valid_position else None


def wrap_consumer_factory(wrap: Callable[[Any, Any], None]) -> None:
    """Call `wrap(thread, aiokafka_consumer)` on every worker consumer Faust builds, once installed."""
    cls: Any = faust_aiokafka.AIOKafkaConsumerThread
    original = cls._create_worker_consumer
    if getattr(original, "_stream_guard", None) is wrap:
        return

    def create_worker_consumer(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        wrap(self, consumer)
        return consumer

    create_worker_consumer._stream_guard = wrap  # type: ignore[attr-defined]
    cls._create_worker_consumer = create_worker_consumer


def set_fetch_max_wait(consumer: Any, milliseconds: int) -> None:
    """Set an aiokafka consumer's fetch wait before it starts (it is read when its fetcher starts)."""
    consumer._fetch_max_wait_ms = milliseconds


def set_stop_timeout(thread: Any, seconds: float) -> None:
    """How long Faust waits for its consumer thread to stop."""
    thread.shutdown_timeout = seconds


class HandingConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer, which offers each fetch to `hand_over(records, active)` of its transport
    before Faust makes one event per record of what is left (the transport removes what it takes)."""

    async def _wait_next_records(self, timeout: float) -> tuple[Any, Any]:
        records, active = await super()._wait_next_records(timeout)
        if records:
            await self.transport.hand_over(records, active)  # type: ignore[attr-defined]
        return records, active
