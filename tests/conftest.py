"""Fixtures: the real local stack (a Kafka-protocol broker and a Redis server), started by the test run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from stream_guard.runtime.local_stack import LocalStack
from stream_guard.runtime.local_stack import local_stack as start_local_stack


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with start_local_stack(workdir=tmp_path_factory.mktemp("local-stack")) as stack:
        yield stack


@pytest.fixture
def redis_client(local_stack: LocalStack) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(local_stack.redis_url)
    client.flushdb()
    yield client
    client.close()
