"""The worker names the topics the broker does not have yet (it creates none), on a real broker."""

from __future__ import annotations

import uuid

import pytest

from stream_guard.adapters.kafka_io import missing_topics
from stream_guard.runtime.local_stack import LocalStack, create_topics

pytestmark = pytest.mark.integration


def test_missing_topics_lists_the_topics_not_created_and_creates_none(local_stack: LocalStack) -> None:
    uid = uuid.uuid4().hex[:8]
    there, absent = f"there-{uid}", f"absent-{uid}"
    create_topics(local_stack.bootstrap(), {there: 1})
    assert missing_topics(local_stack.broker_url, [there, absent]) == [absent]
    assert missing_topics(local_stack.broker_url, [there, absent]) == [absent]   # asking did not create it
