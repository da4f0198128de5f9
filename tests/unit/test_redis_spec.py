"""The topology's `redis:` block: waiting for replicas (`wait_replicas`, `wait_timeout`) and its errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream_guard.adapters.redis_store import RedisStateStore
from stream_guard.core.topology.file import load_topology

from .test_topology_file import MINIMAL, problems_of, write


def test_writes_do_not_wait_for_replicas_unless_asked(tmp_path: Path) -> None:
    redis = load_topology(write(tmp_path, MINIMAL)).redis
    assert (redis.wait_replicas, redis.wait_timeout) == (0, 500)


def test_wait_replicas_and_its_timeout_reach_the_store(tmp_path: Path) -> None:
    topology = load_topology(write(tmp_path, MINIMAL + "redis: {cluster: true, wait_replicas: 1, wait_timeout: 2s}\n"))
    store = RedisStateStore.for_topology(topology)
    assert (store.wait_replicas, store.wait_timeout) == (1, 2000)


@pytest.mark.parametrize(("block", "problem"), [
    ("{wait_replicas: -1}", "redis.wait_replicas: Input should be greater than or equal to 0"),
    ("{wait_replicas: many}", "redis.wait_replicas: Input should be a valid integer"),
    ("{wait_timeout: 0s}", "redis.wait_timeout: wait_timeout must be more than 0 and at most 1m"),
    ("{wait_timeout: 2h}", "redis.wait_timeout: wait_timeout must be more than 0 and at most 1m"),
])
def test_a_bad_wait_setting_is_reported_with_its_line(tmp_path: Path, block: str, problem: str) -> None:
    found = problems_of(tmp_path, MINIMAL + f"redis: {block}\n")
    assert len(found) == 1 and found[0].startswith("F:10: ") and problem in found[0], found
