"""`produce` reports what the broker acknowledged, not what it handed to the client."""

from __future__ import annotations

from kafka.errors import KafkaTimeoutError, RequestTimedOutError

from stream_guard.adapters.kafka_io import NO_DUPLICATES, Delivery


def test_a_delivery_counts_acknowledgements_and_failures_and_keeps_the_first_error() -> None:
    delivery = Delivery()
    for _ in range(3):
        delivery.ack(object())
    delivery.fail(RequestTimedOutError("no answer"))
    delivery.fail(KafkaTimeoutError("later"))
    assert (delivery.acknowledged, delivery.failed) == (3, 2)
    assert delivery.first_error == "RequestTimedOutError: [Error 7] RequestTimedOutError: no answer"
    assert not delivery.complete


def test_a_complete_delivery_says_how_many_messages_the_broker_acknowledged() -> None:
    delivery = Delivery(acknowledged=50_000)
    assert delivery.complete
    assert delivery.describe("fraud.features") == "50,000 messages acknowledged by the broker on fraud.features"


def test_an_incomplete_delivery_says_what_may_be_missing_and_that_nothing_was_sent_twice() -> None:
    delivery = Delivery(acknowledged=49_986, failed=14, first_error="RequestTimedOutError: x", stopped_at=49_990)
    assert delivery.describe("t") == (
        "49,986 messages acknowledged by the broker on t; 14 not acknowledged (first error: RequestTimedOutError: x): "
        "they may or may not be on the topic, and were not sent again so that none is written twice; "
        "sending stopped after 49,990 messages (the rest of the file was not sent)")


def test_produce_never_resends_a_request_so_a_stalled_broker_cannot_get_a_record_twice() -> None:
    assert NO_DUPLICATES["retries"] == 0
    assert NO_DUPLICATES["max_in_flight_requests_per_connection"] == 1
