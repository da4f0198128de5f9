"""Avro (two schema versions) and Protobuf sources on the real broker and Redis, through a Schema Registry
over HTTP (the tests' own server, `tests/schema_registry_server.py`; producers use confluent-kafka's
serializers), with the registry taken away for 20 s midway. About 70 s, 20 of them the outage."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from stream_guard.adapters import kafka_io
from stream_guard.core.alerting.alerts import iso
from stream_guard.core.decoding.wire import frame
from stream_guard.core.topology.file import load_topology
from stream_guard.offline import scenario
from stream_guard.offline.replay import replay
from stream_guard.runtime.local_stack import LocalStack, create_topics
from tests.registry_events import Producers
from tests.schema_registry_server import SchemaRegistryServer

from .live import ALERT, DEMO, LiveTopology, Worker, topic_records, wait_for_records

pytestmark = pytest.mark.integration

START = 1_800_000_000_000 - 1_800_000_000_000 % 60_000
PER_WINDOW, WINDOWS, NEW_VERSION_FROM = 1200, 12, 6
OUTAGE_SECONDS = 20


def window_index(record: dict[str, Any]) -> int:
    start = datetime.fromisoformat(str(record["window"]["start"]).replace("Z", "+00:00"))
    return (int(start.timestamp() * 1000) - START) // 60_000


def with_channel(event: dict[str, Any]) -> dict[str, Any]:
    """An event as version 2 of the Avro schema writes it: one field more in `features`."""
    return {**event, "features": {**event["features"], "channel": "app"}}


@pytest.fixture
def registry() -> Iterator[SchemaRegistryServer]:
    server = SchemaRegistryServer()
    yield server
    server.stop()


def two_monitor_topology(stack: LocalStack, registry: SchemaRegistryServer,
                         directory: Path) -> tuple[Path, dict[str, str]]:
    """The demo monitor twice: `fraud-avro` on an Avro topic and `fraud-proto` on a Protobuf one."""
    uid = uuid.uuid4().hex[:8]
    data = yaml.safe_load(DEMO.read_text())
    base = data["monitors"][0]
    topics = {"fraud-avro": f"avro-{uid}", "fraud-proto": f"proto-{uid}"}
    data["monitors"] = [{**base, "name": name, "source": {**base["source"], "topic": topic,
                                                          "format": "avro" if "avro" in name else "protobuf"}}
                        for name, topic in topics.items()]
    data.update(app=f"it-reg-{uid}", schema_registry={"url": registry.url},
                alerts={"topic": f"alerts-{uid}", "dead_letter_topic": f"dlq-{uid}"})
    path = directory / f"topology-{uid}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    create_topics(stack.bootstrap(), {**{t: 3 for t in topics.values()}, f"alerts-{uid}": 1, f"dlq-{uid}": 1})
    return path, topics


def test_avro_and_protobuf_alert_as_their_json_does_and_a_registry_outage_loses_nothing(
        local_stack: LocalStack, registry: SchemaRegistryServer, tmp_path: Path) -> None:
    path, topics = two_monitor_topology(local_stack, registry, tmp_path)
    events = list(scenario.stream(WINDOWS, START, PER_WINDOW))
    split = NEW_VERSION_FROM * PER_WINDOW
    avro_events = events[:split] + [with_channel(e) for e in events[split:]]
    avro_out, proto_out = Producers(registry.url, topics["fraud-avro"]), Producers(registry.url, topics["fraud-proto"])
    first, second = avro_out.avro(events[:split]), avro_out.avro(avro_events[split:], version=2)
    bad = [b'{"ts": 1}', frame(9999, b"\x02"), first[7][:-4]]   # no magic byte, unknown id, cut short
    proto = proto_out.protobuf(events)

    topology = load_topology(path)
    kafka_io.produce(local_stack.broker_url, topics["fraud-avro"], first[:3000] + bad + first[3000:])
    worker = Worker(local_stack, LiveTopology(path, topology.app, "", "", ""), tmp_path)
    try:
        worker.wait_for(consumed("fraud-avro", split + len(bad)))
        registry.stop()   # version 2 and every Protobuf record name schema ids the worker has not fetched yet
        kafka_io.produce(local_stack.broker_url, topics["fraud-avro"], second)
        kafka_io.produce(local_stack.broker_url, topics["fraud-proto"], proto)
        time.sleep(OUTAGE_SECONDS)
        waiting = worker.status()
        registry.start()
        status = worker.wait_for(lambda s: all(consumed(m, n, window=10)(s) for m, n in
                                                (("fraud-avro", len(events) + len(bad)), ("fraud-proto", len(events)))),
                                 timeout=120)
        alerts = wait_for_records(local_stack, topology.alerts.topic, 1, schema=ALERT)
        dead = topic_records(local_stack, topology.alerts.dead_letter_topic, idle=1.0)
    finally:
        worker.stop()

    assert waiting is not None and totals(waiting, "fraud-avro") == (split, len(bad), split + len(bad))
    assert totals(waiting, "fraud-proto") == (0, 0, 0)
    assert "the schema registry at http://127.0.0.1" in worker.log()
    assert totals(status, "fraud-avro") == (len(events), len(bad), len(events) + len(bad))
    assert totals(status, "fraud-proto") == (len(events), 0, len(events))
    assert Counter(d["reason"] for d in dead) == Counter({"no_magic_byte": 1, "unknown_schema_id": 1,
                                                          "schema_mismatch": 1})
    live = {m: [(window_index(a), a["status"], a["severity"], a["feature"], a["check"])
                for a in alerts if a["monitor"] == m and window_index(a) <= 10] for m in topics}
    as_json = {"fraud-avro": json_alerts(path, avro_events, "fraud-avro", tmp_path),
               "fraud-proto": json_alerts(path, events, "fraud-proto", tmp_path)}
    assert live == as_json
    checks = {(a[3], a[4]) for a in live["fraud-avro"]}
    assert {("amount", "mean_shift"), ("country", "categorical_drift"), ("*", "schema_drift")} <= checks


def totals(status: dict[str, Any], monitor: str) -> tuple[int, int, int]:
    partitions = status["monitors"][monitor]["partitions"].values()
    return (sum(p["folded"] for p in partitions), sum(p["dead_lettered"] for p in partitions),
            sum(p["offset"] for p in partitions))


def consumed(monitor: str, records: int, window: int | None = None) -> Callable[[dict[str, Any]], bool]:
    def met(status: dict[str, Any]) -> bool:
        state = status["monitors"][monitor]
        done = sum(p["offset"] for p in state["partitions"].values()) == records
        return done and (window is None or (state["last_evaluated_window"] or {}).get("start")
                         == iso(START + window * 60_000))
    return met


def json_alerts(path: Path, events: list[dict[str, Any]], monitor: str, directory: Path) -> list[tuple[Any, ...]]:
    """The alerts `replay` gives for the same events as JSON Lines (windows 0..10, as the live run closes)."""
    lines = directory / f"{monitor}.jsonl"
    lines.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    found: list[dict[str, Any]] = []
    topology = load_topology(path)
    only = topology.model_copy(update={"monitors": [topology.monitor(monitor)]})
    replay(only, lines, found.append, lambda r: None, lambda r: None)
    return [(window_index(a), a["status"], a["severity"], a["feature"], a["check"])
            for a in found if window_index(a) <= 10]
