"""The Faust, mode and aiokafka internals stream_guard leans on are still there, in the form it uses them,
and the versions that have them are the ones pyproject.toml pins."""

from __future__ import annotations

import asyncio
import inspect
import re
import tomllib
from pathlib import Path
from typing import Any

import faust

from stream_guard.runtime.faust_internals import INTERNALS, SUPPORTED, Internal, problems

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_every_internal_stream_guard_uses_is_unchanged() -> None:
    found = problems()
    assert not found, (
        "an upgrade of faust-streaming, mode-streaming or aiokafka changed what stream_guard relies on; adapt "
        "stream_guard/runtime/faust_internals.py (and the fetch path) or keep the versions pyproject.toml pins:\n  "
        + "\n  ".join(found))


def test_a_method_whose_parameters_changed_is_named() -> None:
    internal = Internal("faust.transport.consumer:Consumer._wait_next_records", "a test", ("self", "seconds"))
    assert internal.problem() == "parameters are now ('self', 'timeout'), not ('self', 'seconds')"


def test_a_missing_attribute_is_named() -> None:
    assert Internal("faust.transport.consumer:Consumer._gone", "a test").problem() == "Consumer._gone is gone"
    assert Internal("faust.streams:Stream.gone", "a test", assigned_in="__init__").problem() == (
        "Stream.__init__ no longer sets self.gone")


def test_the_pins_in_pyproject_are_the_supported_versions() -> None:
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    for dist, (major, minor) in SUPPORTED.items():
        pin = next(d for d in dependencies if re.match(rf"{dist}\b", d))
        assert f"<{major}.{minor + 1}" in pin, f"pyproject.toml pins {pin!r}; stream_guard supports {major}.{minor}.x"


def test_a_faust_stream_yields_a_plain_item_as_it_was_put() -> None:
    """The fetch path puts lists of records on an agent's queue: Faust's stream must hand them over as they are."""

    async def first_item() -> object:
        app = faust.App("sg-internals-test", broker="kafka://127.0.0.1:1", store="memory://", web_enabled=False)
        channel = app.channel(maxsize=2)
        stream = app.stream(channel)
        app.flow_control.resume()
        await channel.put(["one", "two"])
        async for item in stream:
            return item
        return None

    assert asyncio.run(asyncio.wait_for(first_item(), 10)) == ["one", "two"]


def test_the_log_end_a_silent_partition_is_judged_by_is_the_one_aiokafka_keeps() -> None:
    from aiokafka.consumer.fetcher import Fetcher

    names = {internal.path for internal in INTERNALS}
    assert "faust.transport.consumer:ThreadDelegateConsumer.highwater" in names
    assert "aiokafka.consumer.consumer:AIOKafkaConsumer.highwater" in names
    assert "tp_state.highwater = highwater" in inspect.getsource(Fetcher._proc_fetch_request)


def test_the_consumer_position_is_read_from_aiokafka_as_it_keeps_it() -> None:
    from types import SimpleNamespace

    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import TopicPartition

    from stream_guard.runtime.faust_internals import consumer_position

    async def positions() -> list[int | None]:
        consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1")
        app: Any = SimpleNamespace(consumer=SimpleNamespace(_thread=SimpleNamespace(_ensure_consumer=lambda: consumer)))
        tp = TopicPartition("t", 1)
        found = [consumer_position(app, tp)]                 # nothing assigned
        consumer._subscription.assign_from_user({tp})
        found.append(consumer_position(app, tp))             # assigned, no position yet
        consumer._subscription.subscription.assignment.state_value(tp).seek(42)
        found.append(consumer_position(app, tp))
        await consumer.stop()
        return found

    assert asyncio.run(positions()) == [None, None, 42]
