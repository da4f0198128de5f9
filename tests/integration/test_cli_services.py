"""CLI commands that talk to the broker and Redis: `local up`, `produce`, `alerts tail`."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import redis

from stream_guard.cli.main import main
from stream_guard.runtime.local_stack import LocalStack, free_port

from .live import fresh_topology, topic_records

pytestmark = pytest.mark.integration
CLI = str(Path(sys.executable).parent / "stream-guard")


def test_local_up_uses_the_ports_given_prints_their_urls_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    broker_port, redis_port = free_port(), free_port()
    process = subprocess.Popen([CLI, "local", "up", "--broker-port", str(broker_port), "--redis-port", str(redis_port)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    lines = [process.stdout.readline() for _ in range(3)]
    try:
        assert lines[:2] == [f"broker  kafka://127.0.0.1:{broker_port}\n", f"redis   redis://127.0.0.1:{redis_port}/0\n"]
        assert redis.Redis(port=redis_port).ping() is True
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
    with pytest.raises(redis.ConnectionError):
        redis.Redis(port=redis_port, socket_connect_timeout=1).ping()


def test_local_up_on_a_taken_port_says_which_and_what_to_do(local_stack: LocalStack,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["local", "up", "--redis-port", str(local_stack.redis_port)]) == 1
    assert capsys.readouterr().err == (f"stream-guard: port {local_stack.redis_port} on 127.0.0.1 is already in use; "
                                       "choose another with --redis-port\n")


def test_produce_sends_every_line_and_alerts_tail_prints_alerts_and_digests(
        local_stack: LocalStack, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    topology = fresh_topology(local_stack, tmp_path)
    events = tmp_path / "e.jsonl"
    events.write_bytes(b"".join(orjson.dumps({"ts": i, "n": i}) + b"\n" for i in range(250)))
    assert main(["produce", str(topology.path), str(events), "--broker", local_stack.broker_url]) == 0
    assert len(topic_records(local_stack, topology.source)) == 250

    alert = {"schema": "stream_guard.alert/v1", "id": "a1", "fingerprint": "f", "monitor": "m", "segment": "all",
             "feature": "x", "check": "missing_rate", "severity": "warning", "status": "firing",
             "window": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:01:00Z"}, "summary": "x: s."}
    digest = {"schema": "stream_guard.digest/v1", "id": "d1", "monitor": "m", "window": alert["window"],
              "firing": [{"feature": "x", "check": "missing_rate", "severity": "warning", "value": 0.1}]}
    from stream_guard.adapters.kafka_io import produce
    produce(local_stack.broker_url, topology.alerts, [orjson.dumps(alert), orjson.dumps(digest)])
    capfd.readouterr()
    assert main(["alerts", "tail", str(topology.path), "--broker", local_stack.broker_url, "--from-beginning",
                 "--json", "--no-digests", "--idle-exit", "2"]) == 0
    assert [orjson.loads(line) for line in capfd.readouterr().out.splitlines()] == [alert]
    assert main(["alerts", "tail", str(topology.path), "--broker", local_stack.broker_url, "--from-beginning",
                 "--idle-exit", "2"]) == 0
    assert capfd.readouterr().out.splitlines() == [
        "00:00–00:01  WARNING   firing    m/x  missing_rate  x: s.",
        "00:00–00:01  digest    1 firing  m  x missing_rate warning 0.1"]


def start_local_up(broker_port: int, redis_port: int,
                   *more: str) -> tuple[subprocess.Popen[str], list[str]]:
    """`local up` on the given ports, and the first lines it printed (its URLs, or nothing if it exited)."""
    process = subprocess.Popen([CLI, "local", "up", "--broker-port", str(broker_port), "--redis-port", str(redis_port),
                                *more], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, [process.stdout.readline() for _ in range(2)]


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_local_up_starts_again_on_the_same_ports_right_after_a_stop(tmp_path: Path) -> None:
    broker_port, redis_port = free_port(), free_port()
    first, _ = start_local_up(broker_port, redis_port)
    # a client still connected when the stack stops leaves the servers' side of the connection in TIME-WAIT
    client = redis.Redis(port=redis_port)
    client.ping()
    first.send_signal(signal.SIGINT)
    assert first.wait(timeout=20) == 0
    client.close()
    second, lines = start_local_up(broker_port, redis_port)
    try:
        assert lines == [f"broker  kafka://127.0.0.1:{broker_port}\n", f"redis   redis://127.0.0.1:{redis_port}/0\n"], \
            second.stderr.read() if second.poll() is not None and second.stderr else lines
    finally:
        second.send_signal(signal.SIGINT)
        second.wait(timeout=20)


def test_local_up_with_a_topology_creates_its_label_topic_with_labels_partitions(tmp_path: Path) -> None:
    from kafka import KafkaConsumer

    from stream_guard.offline.label_scenario import label_topology

    topology = tmp_path / "labels.yaml"
    topology.write_text(label_topology("lbl").replace("max_delay: 10m}", "max_delay: 10m, partitions: 3}"))
    broker_port, redis_port = free_port(), free_port()
    process, lines = start_local_up(broker_port, redis_port, "--topology", str(topology))
    try:
        assert lines[0] == f"broker  kafka://127.0.0.1:{broker_port}\n"
        consumer = KafkaConsumer(bootstrap_servers=f"127.0.0.1:{broker_port}")
        try:
            assert consumer.topics() >= {"lbl.predictions", "lbl.labels"}
            assert consumer.partitions_for_topic("lbl.labels") == {0, 1, 2}
            assert consumer.partitions_for_topic("lbl.predictions") == {0}
        finally:
            consumer.close()
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP])
def test_local_up_stops_the_broker_and_redis_on_sigterm_and_sighup(stop: signal.Signals) -> None:
    broker_port, redis_port = free_port(), free_port()
    process, lines = start_local_up(broker_port, redis_port)
    assert lines[0] == f"broker  kafka://127.0.0.1:{broker_port}\n"
    assert answers(broker_port) and answers(redis_port)
    process.send_signal(stop)
    process.wait(timeout=20)
    assert not answers(broker_port), "the broker outlived `local up`"
    assert not answers(redis_port), "redis-server outlived `local up`"
