"""What a paused (SIGSTOP) or dead broker does to `produce` and to a worker: nothing duplicated or
silently lost, a few clear lines in the log rather than thousands, and a stop that stays short.

Each test runs a broker of its own (beside the session's Redis), since it pauses or kills it.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stream_guard.adapters import kafka_io
from stream_guard.runtime.local_stack import LocalStack, create_topics, free_port, start_broker

from .live import topic_records

pytestmark = pytest.mark.integration


class OwnBroker:
    """A broker for one test, to pause (SIGSTOP), resume and kill; `stack` pairs it with the session's Redis."""

    def __init__(self, session: LocalStack, workdir: Path) -> None:
        port = free_port()
        self.process = start_broker(port, workdir)
        self.stack = LocalStack(f"kafka://127.0.0.1:{port}", session.redis_url, port, session.redis_port, workdir)

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        self.process.kill()
        self.resume()
        self.process.wait()


@pytest.fixture
def broker(local_stack: LocalStack, tmp_path: Path) -> Iterator[OwnBroker]:
    own = OwnBroker(local_stack, tmp_path)
    yield own
    if own.process.poll() is None:
        own.kill()


def test_produce_through_a_broker_stall_duplicates_nothing_and_counts_only_what_was_acknowledged(
        broker: OwnBroker) -> None:
    create_topics(broker.stack.bootstrap(), {"stalled": 1})
    payloads = [b'{"n": %d}' % i for i in range(3000)]
    result: list[kafka_io.Delivery] = []
    feed = threading.Thread(target=lambda: result.append(kafka_io.produce(
        broker.stack.broker_url, "stalled", payloads, rate=1000, request_timeout_ms=2000)))
    feed.start()
    time.sleep(0.5)
    broker.pause()   # longer than the request timeout: the requests in flight time out
    time.sleep(5)
    broker.resume()
    feed.join(timeout=30)
    on_topic = [r["n"] for r in topic_records(broker.stack, "stalled", idle=2.0)]
    delivery = result[0]
    assert len(on_topic) == len(set(on_topic)), f"{len(on_topic) - len(set(on_topic))} duplicated"
    assert delivery.acknowledged + delivery.failed == len(payloads)
    assert delivery.acknowledged <= len(on_topic) <= len(payloads)
