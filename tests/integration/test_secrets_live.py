"""Redis passwords on the real path: a worker authenticates to a real Redis started with `requirepass`,
and the password appears in no log line, no `/status` field and no error message of the CLI.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis

from stream_guard.adapters import kafka_io
from stream_guard.offline import scenario
from stream_guard.runtime.local_stack import LocalStack, free_port, start_redis

from .live import LiveTopology, Worker, fresh_topology

pytestmark = pytest.mark.integration

SECRET = "it-Secret-7f3a9c"  # distinctive, so a grep cannot match anything else
EVENTS = 60


@pytest.fixture
def password_redis(tmp_path: Path) -> Iterator[int]:
    """A real Redis server of its own that refuses every command until AUTH with SECRET; yields its port."""
    port = free_port()
    process = start_redis(port, tmp_path, "--requirepass", SECRET, password=SECRET)
    client = redis.Redis(port=port, password=SECRET)
    try:
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port).ping()  # it really wants the password
        yield port
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)


class SecretWorker(Worker):
    """`stream-guard worker` with the given Redis URL (or none) and extra environment."""

    def __init__(self, stack: LocalStack, topology: LiveTopology, log_dir: Path, redis_url: str | None,
                 env: dict[str, str]) -> None:
        self.web_port = free_port()
        self.log_path = log_dir / f"worker-{self.web_port}.log"
        command = [sys.executable, "-m", "stream_guard", "worker", str(topology.path), "--broker", stack.broker_url,
                   "--web-port", str(self.web_port), "--loglevel", "info"]
        command += ["--redis", redis_url] if redis_url else []
        self.process = subprocess.Popen(command, stdout=open(self.log_path, "wb"), stderr=subprocess.STDOUT,
                                        env=clean_env(env))


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"SG_BROKER", "SG_REDIS"}}
    return {**env, **extra}


def send_events(stack: LocalStack, topology: LiveTopology) -> None:
    now = int(time.time() * 1000)
    kafka_io.produce(stack.broker_url, topology.source,
                     [orjson.dumps(e) for e in scenario.stream(1, now - now % 60_000, EVENTS, faults=False)])


def folded_everything(status: dict[str, object]) -> bool:
    partitions = status["monitors"]["fraud-model"]["partitions"]  # type: ignore[index]
    return sum(p["folded"] for p in partitions.values()) == EVENTS  # type: ignore[attr-defined]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stream_guard", *args], capture_output=True, text=True,
                          timeout=60, env=clean_env(env or {}))


def state_keys(port: int, app: str) -> list[bytes]:
    client = redis.Redis(port=port, password=SECRET)
    try:
        return sorted(client.scan_iter(match=f"sg:{{{app}/*"))
    finally:
        client.close()


def test_a_worker_with_the_password_in_its_redis_url_keeps_state_and_never_shows_it(
        local_stack: LocalStack, password_redis: int, tmp_path: Path) -> None:
    topology = fresh_topology(local_stack, tmp_path)
    send_events(local_stack, topology)
    url = f"redis://:{SECRET}@127.0.0.1:{password_redis}/0"
    worker = SecretWorker(local_stack, topology, tmp_path, url, {})
    try:
        status = worker.wait_for(folded_everything, timeout=90)
        assert SECRET not in orjson.dumps(status).decode()
    finally:
        worker.stop()
    log = worker.log()
    assert "fraud-model" in log  # the log is the worker's, and it said things
    assert SECRET not in log
    assert any(key.endswith(b":meta") for key in state_keys(password_redis, topology.app))


def test_a_worker_reads_the_redis_password_from_the_variable_the_topology_names(
        local_stack: LocalStack, password_redis: int, tmp_path: Path) -> None:
    topology = fresh_topology(local_stack, tmp_path)
    text = topology.path.read_text()
    line = 'redis: {url: "redis://127.0.0.1:6379/0"}'
    assert line in text
    topology.path.write_text(text.replace(
        line, f'redis: {{url: "redis://127.0.0.1:{password_redis}/0", password_env: SG_IT_REDIS_PASSWORD}}'))
    send_events(local_stack, topology)
    worker = SecretWorker(local_stack, topology, tmp_path, None, {"SG_IT_REDIS_PASSWORD": SECRET})
    try:
        status = worker.wait_for(folded_everything, timeout=90)
        assert SECRET not in orjson.dumps(status).decode()
    finally:
        worker.stop()
    assert SECRET not in worker.log()
    assert any(key.endswith(b":meta") for key in state_keys(password_redis, topology.app))


def test_an_unreachable_redis_is_named_with_the_password_redacted(local_stack: LocalStack, tmp_path: Path) -> None:
    topology = fresh_topology(local_stack, tmp_path)
    closed = free_port()
    result = run_cli("worker", str(topology.path), "--broker", local_stack.broker_url,
                     "--redis", f"redis://:{SECRET}@127.0.0.1:{closed}/0", "--web-port", str(free_port()))
    assert result.returncode == 1
    assert result.stderr.startswith(f"stream-guard: cannot reach Redis at redis://:***@127.0.0.1:{closed}/0 (")
    assert SECRET not in result.stdout + result.stderr


def test_a_wrong_redis_password_is_refused_without_being_shown(
        local_stack: LocalStack, password_redis: int, tmp_path: Path) -> None:
    topology = fresh_topology(local_stack, tmp_path)
    wrong = "it-Wrong-0b1d2e"
    result = run_cli("worker", str(topology.path), "--broker", local_stack.broker_url,
                     "--redis", f"redis://:{wrong}@127.0.0.1:{password_redis}/0", "--web-port", str(free_port()))
    assert result.returncode == 1
    assert result.stderr.startswith(f"stream-guard: cannot reach Redis at redis://:***@127.0.0.1:{password_redis}/0 (")
    assert "invalid username-password pair" in result.stderr
    assert wrong not in result.stdout + result.stderr
    assert SECRET not in result.stdout + result.stderr
