"""Helpers for tests that run real workers against the session's local broker and Redis."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import orjson

from stream_guard.adapters import kafka_io
from stream_guard.runtime.local_stack import LocalStack, broker_binary, create_topics, free_port

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "topologies" / "demo.yaml"


@dataclass(frozen=True)
class LiveTopology:
    """The demo topology under fresh names, so tests sharing one broker and Redis never meet."""

    path: Path
    app: str
    source: str
    alerts: str
    dead_letters: str


def fresh_topology(stack: LocalStack, directory: Path) -> LiveTopology:
    uid = uuid.uuid4().hex[:8]
    names = LiveTopology(directory / f"topology-{uid}.yaml", f"it-{uid}", f"src-{uid}", f"alerts-{uid}", f"dlq-{uid}")
    text = (DEMO.read_text().replace("app: demo-guard", f"app: {names.app}")
            .replace("topic: fraud.features", f"topic: {names.source}")
            .replace("topic: stream-guard.alerts", f"topic: {names.alerts}")
            .replace("dead_letter_topic: stream-guard.dead-letters", f"dead_letter_topic: {names.dead_letters}"))
    names.path.write_text(text)
    create_topics(stack.bootstrap(), {names.source: 3, names.alerts: 1, names.dead_letters: 1})
    return names


_WORKERS = count(1)


class Worker:
    """`stream-guard worker` in a subprocess, logging to a file."""

    def __init__(self, stack: LocalStack, topology: LiveTopology, log_dir: Path, redis_url: str | None = None) -> None:
        self.web_port = free_port()
        # numbered: a later worker may be given a port an earlier one freed, and must not share its log
        self.log_path = log_dir / f"worker-{next(_WORKERS)}-{self.web_port}.log"
        command = [sys.executable, "-m", "stream_guard", "worker", str(topology.path), "--broker", stack.broker_url,
                   "--redis", redis_url or stack.redis_url, "--web-port", str(self.web_port), "--loglevel", "info"]
        self.process = subprocess.Popen(command, stdout=open(self.log_path, "wb"), stderr=subprocess.STDOUT)

    def kill(self) -> None:
        """SIGKILL: no flush, no commit, no goodbye to the consumer group."""
        self.process.kill()
        self.process.wait()

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def partitions(self) -> set[int]:
        """The source partitions this worker holds state for right now (empty if it does not answer)."""
        status = self.status()
        if status is None:
            return set()
        return {int(p) for m in status["monitors"].values() for p in m["partitions"]}

    def status(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/status", timeout=2) as response:
                return orjson.loads(response.read())  # type: ignore[no-any-return]
        except OSError:
            return None

    def wait_for(self, predicate: Any, timeout: float = 90.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"worker exited early:\n{self.log()}"
            status = self.status()
            if status is not None and predicate(status):
                return status
            time.sleep(0.3)
        raise AssertionError(f"condition not met in {timeout}s; last status {self.status()}\n{self.log()[-3000:]}")

    def stop(self, timeout: float = 20.0) -> float:
        """SIGTERM; returns how long the worker took to exit."""
        began = time.monotonic()
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"worker did not stop within {timeout}s after SIGTERM") from None
        return time.monotonic() - began

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


ALERT = "stream_guard.alert/v1"
DIGEST = "stream_guard.digest/v1"


def topic_records(stack: LocalStack, topic: str, idle: float = 3.0, schema: str | None = None) -> list[dict[str, Any]]:
    """Everything on a topic (of `schema` only, if given), from the beginning until `idle` seconds of silence."""
    found = kafka_io.records(stack.broker_url, topic, from_beginning=True, idle_timeout_s=idle)
    return [r for r in found if schema is None or r.get("schema") == schema]


def wait_for_records(stack: LocalStack, topic: str, count: int, timeout: float = 90.0,
                     schema: str | None = None) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    seen: list[dict[str, Any]] = []
    while time.monotonic() < deadline and len(seen) < count:
        seen = topic_records(stack, topic, idle=1.0, schema=schema)
    return seen


def jsonl_lines(path: Path) -> Iterator[bytes]:
    yield from path.read_bytes().splitlines()


class Broker:
    """A broker of this test's own on a fixed port, so that it can be restarted with an empty log."""

    def __init__(self, workdir: Path) -> None:
        self.port, self.workdir = free_port(), workdir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        listener = f"tcp://127.0.0.1:{self.port}"
        with open(self.workdir / "broker.log", "ab") as out:
            self.process = subprocess.Popen([broker_binary(), "broker", "--listener-url", listener,
                                             "--advertised-listener-url", listener], stdout=out,
                                            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                create_topics(f"127.0.0.1:{self.port}", {"ping": 1})
                return
            except Exception:  # not listening yet
                time.sleep(0.2)
        raise AssertionError("the test's broker did not start")

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()
