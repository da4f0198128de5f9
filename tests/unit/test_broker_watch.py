"""The broker watch: a probe that tells a hung broker from a gone one, and a log that says each once."""

from __future__ import annotations

import logging
import socket

from stream_guard.runtime.broker_watch import BrokerReachability, probe
from stream_guard.runtime.local_stack import free_port
from stream_guard.runtime.log_summary import RepeatSummary


def test_a_broker_that_accepts_connections_but_never_answers_is_unreachable() -> None:
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen()   # the kernel completes the handshake; nothing ever reads, as with a SIGSTOPped broker
        assert probe("127.0.0.1", hung.getsockname()[1], timeout=0.2) == "no answer within 0.2s"


def test_a_port_nothing_listens_on_is_refused() -> None:
    assert probe("127.0.0.1", free_port(), timeout=0.5) == "Connection refused"


def test_an_outage_is_said_once_and_its_end_once_with_how_long_it_lasted() -> None:
    watch = BrokerReachability("kafka://user:secret@k:9092")
    lines = [watch.observe(p, t) for t, p in enumerate([None, "refused", "refused", "no answer", None, None])]
    assert lines == [None, "Kafka broker at kafka://user:***@k:9092 is unreachable (refused); consuming, publishing "
                     "and offset commits wait for it", None, None,
                     "Kafka broker at kafka://user:***@k:9092 answers again after 3.0s unreachable", None]


def record(message: str, *args: object, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord("aiokafka.conn", level, "", 0, message, args, None)


def test_repeated_errors_are_held_back_and_counted_on_the_next_line_of_their_kind_a_period_later() -> None:
    now = [0.0]
    summary = RepeatSummary(period_s=30, clock=lambda: now[0])
    assert summary.filter(record("Unable connect to node %s", 1))
    assert not any(summary.filter(record("Unable connect to node %s", n)) for n in range(500))
    assert summary.filter(record("Failed fetch messages from %s", 1)), "another kind goes through at once"
    now[0] = 30.0
    later = record("Unable connect to node %s", 7)
    assert summary.filter(later)
    assert later.getMessage() == "Unable connect to node 7 [500 more like this in the last 30s, not shown]"
    assert summary.take_suppressed() == 500
    assert summary.take_suppressed() == 0


def test_info_lines_are_never_held_back() -> None:
    summary = RepeatSummary(period_s=30, clock=lambda: 0.0)
    assert all(summary.filter(record("joined group", level=logging.INFO)) for _ in range(5))


def test_lines_rewritten_by_the_filters_still_format_under_fausts_formatter() -> None:
    """Faust's formatter (mode's ExtensionFormatter) wraps args that are not a tuple: `None` became
    `(None,)`, and the rewritten line failed with 'not all arguments converted' at shutdown."""
    from kafka.errors import KafkaConnectionError
    from mode.utils.logging import ExtensionFormatter

    from stream_guard.runtime.log_summary import KafkaTracebackInOneLine

    try:
        raise KafkaConnectionError("Connection at 127.0.0.1:9092 closed")
    except KafkaConnectionError as exc:
        record = logging.LogRecord("asyncio", logging.ERROR, __file__, 1, "Task exception was never retrieved",
                                   (), (type(exc), exc, exc.__traceback__))
    assert KafkaTracebackInOneLine().filter(record)
    assert ExtensionFormatter(fmt="%(message)s").format(record) == (
        "a Kafka client task failed: KafkaConnectionError: KafkaConnectionError: Connection at 127.0.0.1:9092 closed")

    summary = RepeatSummary(period_s=30, clock=iter([0.0, 1.0, 40.0]).__next__)
    lines = [logging.LogRecord("aiokafka", logging.ERROR, __file__, 1, "Unable connect to %s", ("node 1",), None)
             for _ in range(3)]
    shown = [r for r in lines if summary.filter(r)]
    assert [ExtensionFormatter(fmt="%(message)s").format(r) for r in shown] == [
        "Unable connect to node 1", "Unable connect to node 1 [1 more like this in the last 30s, not shown]"]
