"""Avro, Protobuf and JSON Schema records in the Confluent wire format, as confluent-kafka's serializers
write them against a registry over HTTP (the tests' own, `tests/schema_registry_server.py`)."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro
import orjson
import pytest

from stream_guard.adapters.schema_registry import RegistryClient
from stream_guard.core.decoding.records import RawRecord
from stream_guard.core.decoding.wire import frame
from stream_guard.core.engine import MonitorEngine
from stream_guard.core.profiles.folding import PartitionFolder
from stream_guard.core.topology.file import load_topology
from stream_guard.core.topology.monitor import MonitorSpec
from stream_guard.core.topology.schema_registry import SchemaRegistrySpec
from stream_guard.errors import ServiceUnreachable
from stream_guard.offline import scenario
from tests.registry_events import Producers
from tests.schema_registry_server import SchemaRegistryServer

START = 1_800_000_000_000
DEMO_MONITOR = load_topology(Path(__file__).resolve().parents[2] / "topologies" / "demo.yaml").monitors[0]


@pytest.fixture(scope="module")
def registry() -> Iterator[SchemaRegistryServer]:
    server = SchemaRegistryServer()
    yield server
    server.stop()


def monitor(fmt: str, base: MonitorSpec = DEMO_MONITOR) -> MonitorSpec:
    return base.model_copy(update={"source": base.source.model_copy(update={"format": fmt})})


def folded(fmt: str, payloads: list[bytes], url: str, base: MonitorSpec = DEMO_MONITOR) -> tuple[MonitorEngine, Any]:
    """An engine of the demo monitor in `fmt` after folding `payloads` (schemas fetched from `url`)."""
    engine = MonitorEngine(monitor(fmt, base))
    records = [RawRecord(p, 0, i) for i, p in enumerate(payloads)]
    assert engine.schemas is not None
    engine.schemas.learn(asyncio.run(fetch(url, engine.schemas.wanted(records), fmt)))
    dead = engine.fold(records)
    return engine, dead


async def fetch(url: str, ids: list[int], fmt: str) -> Any:
    client = RegistryClient(SchemaRegistrySpec(url=url))
    try:
        return await client.fetch(ids, fmt)
    finally:
        await client.close()


def window_of(engine: MonitorEngine) -> Any:
    folder: PartitionFolder = engine.folders[0]
    assert len(folder.windows) == 1
    return next(iter(folder.windows.values()))


def summary(window: Any) -> dict[str, Any]:
    """What a window holds per feature, comparable across formats."""
    out: dict[str, Any] = {"events": window.events}
    for name, feature in window.features.items():
        if hasattr(feature, "total"):
            out[name] = (feature.missing, feature.invalid, round(feature.total, 6), feature.sketch.n)
        else:
            out[name] = (feature.missing, feature.invalid, sorted((i[0], i[1]) for i in
                                                                  feature.sketch.get_frequent_items(1)))
    return out


EVENTS = scenario.window_events(6, START, 300)   # the window where 40% of events lose `age`


def as_json(events: list[dict[str, Any]]) -> tuple[MonitorEngine, Any]:
    engine = MonitorEngine(DEMO_MONITOR)
    engine.fold([RawRecord(orjson.dumps(e), 0, i) for i, e in enumerate(events)])
    return engine, None


@pytest.mark.parametrize("fmt", ["avro", "protobuf", "json_schema"])
def test_each_format_folds_exactly_what_the_same_events_as_json_fold(registry: SchemaRegistryServer, fmt: str) -> None:
    producers = Producers(registry.url, f"parity-{fmt}")
    engine, dead = folded(fmt, getattr(producers, fmt)(EVENTS), registry.url)
    assert dead == []
    assert summary(window_of(engine)) == summary(window_of(as_json(EVENTS)[0]))
    assert window_of(engine).features["age"].missing == sum(e["features"]["age"] is None for e in EVENTS) > 0


def test_two_avro_versions_fold_into_the_same_features_and_a_new_field_is_schema_drift(
        registry: SchemaRegistryServer) -> None:
    producers = Producers(registry.url, "versions")
    v2 = [{**e, "features": {**e["features"], "channel": "app"}} for e in EVENTS[100:]]
    engine, dead = folded("avro", producers.avro(EVENTS[:100]) + producers.avro(v2, version=2), registry.url)
    window = window_of(engine)
    assert dead == [] and window.events == len(EVENTS)
    assert window.unknown_fields == {"features.channel": 200}
    assert summary(window) == summary(window_of(as_json(EVENTS[:100] + v2)[0]))


def test_a_field_the_new_version_drops_is_missing_and_counted_as_schema_drift(registry: SchemaRegistryServer) -> None:
    old = avro_writer(["amount", "age"])
    new = avro_writer(["amount"])
    ids = [registry.register("drop-value", {"schema": json.dumps(s)}) for s in (old, new)]
    payloads = [frame(ids[0], avro_bytes(old, {"ts": START + i, "features": {"amount": 1.0, "age": 30}}))
                for i in range(3)]
    payloads += [frame(ids[1], avro_bytes(new, {"ts": START + 10 + i, "features": {"amount": 2.0}})) for i in range(2)]
    engine, dead = folded("avro", payloads, registry.url, small_monitor())
    window = window_of(engine)
    assert dead == []
    assert window.features["age"].missing == 2
    assert window.unknown_fields == {"features.age (not in the writer's schema)": 2}


def test_bad_records_are_dead_lettered_with_their_own_reasons_and_the_rest_is_folded(
        registry: SchemaRegistryServer) -> None:
    good = Producers(registry.url, "bad-input").avro(EVENTS[:5])
    payloads = [good[0], b'{"ts": 1}', good[1], frame(9999, b"\x02"), good[2][:-3], b"", good[3]]
    engine, dead = folded("avro", payloads, registry.url)
    assert [(d.record.offset, d.reason) for d in dead] == [
        (1, "no_magic_byte"), (3, "unknown_schema_id"), (4, "schema_mismatch"), (5, "empty")]
    assert "schema id 9999 is not in the schema registry" in dead[1].message
    assert window_of(engine).events == 3


def test_a_schema_of_another_type_than_the_source_format_is_a_schema_mismatch(registry: SchemaRegistryServer) -> None:
    payloads = Producers(registry.url, "json-on-avro").json_schema(EVENTS[:2])
    _, dead = folded("avro", payloads, registry.url)
    assert {d.reason for d in dead} == {"schema_mismatch"}
    assert "it is a JSON schema and the source's format is avro" in dead[0].message


def test_avro_logical_types_map_to_event_time_numbers_and_categories(registry: SchemaRegistryServer) -> None:
    schema = {"type": "record", "name": "L", "fields": [
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "features", "type": {"type": "record", "name": "F", "fields": [
            {"name": "amount", "type": ["null", {"type": "bytes", "logicalType": "decimal", "precision": 9,
                                                 "scale": 2}]},
            {"name": "age", "type": ["null", "long"]},
            {"name": "country", "type": {"type": "enum", "name": "C", "symbols": ["DE", "US"]}},
            {"name": "extra", "type": {"type": "map", "values": "double"}}]}}]}
    number = registry.register("logical-value", {"schema": json.dumps(schema)})
    events = [{"ts": (START + i) * 1000, "features": {"amount": Decimal("12.34") if i else None, "age": None,
                                                      "country": "DE", "extra": {"k": 2.5}}} for i in range(3)]
    base = small_monitor(extra={"country": {"type": "categorical", "field": "features.country"},
                                "k": {"type": "numeric", "field": "features.extra.k"}})
    engine, dead = folded("avro", [frame(number, avro_bytes(schema, e)) for e in events], registry.url, base)
    window = window_of(engine)
    assert dead == [] and window.start == START - START % 60_000
    assert (window.features["amount"].missing, window.features["amount"].total) == (1, pytest.approx(24.68))
    assert window.features["age"].missing == 3
    assert window.features["country"].sketch.get_estimate("DE") == 3
    assert window.features["k"].total == pytest.approx(7.5)


def test_the_registry_client_tells_an_unknown_id_from_an_unreachable_registry(registry: SchemaRegistryServer) -> None:
    assert asyncio.run(fetch(registry.url, [424242], "avro")) == {424242: None}
    with pytest.raises(ServiceUnreachable, match=r"cannot reach the schema registry at http://u:\*\*\*@127.0.0.1:1 "):
        asyncio.run(fetch("http://u:s3cret@127.0.0.1:1", [1], "avro"))


def test_topology_schema_registry_block_and_its_overrides(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("version: 1\napp: a\nschema_registry: {url: 'http://r:8081', username: u, password_env: P}\n"
                    "monitors:\n  - name: m\n    source: {topic: t, timestamp: ts, format: protobuf}\n"
                    "    window: {size: 1m}\n    features: {x: {type: numeric}}\n")
    topology = load_topology(path)
    assert topology.schema_registry is not None and topology.monitors[0].source.messages_per_batch() == 2000
    monkeypatch.setenv("SG_SCHEMA_REGISTRY", "http://env:8081")
    assert topology.with_schema_registry(None).schema_registry.url == "http://env:8081"  # type: ignore[union-attr]
    assert topology.with_schema_registry("http://flag:1").schema_registry.url == "http://flag:1"  # type: ignore[union-attr]
    path.write_text(path.read_text().replace("username: u, password_env: P", "password: x"))
    with pytest.raises(Exception, match=r"t.yaml:3: schema_registry: a password is never written"):
        load_topology(path)


def small_monitor(extra: dict[str, Any] | None = None) -> MonitorSpec:
    return MonitorSpec.model_validate({
        "name": "m", "source": {"topic": "t", "timestamp": "ts", "format": "avro"}, "window": {"size": "1m"},
        "features": {"amount": {"type": "numeric", "field": "features.amount"},
                     "age": {"type": "numeric", "field": "features.age"}, **(extra or {})}})


def avro_writer(fields: list[str]) -> dict[str, Any]:
    return {"type": "record", "name": "E", "fields": [
        {"name": "ts", "type": "long"},
        {"name": "features", "type": {"type": "record", "name": "F",
                                      "fields": [{"name": f, "type": "double" if f == "amount" else "long"}
                                                 for f in fields]}}]}


def avro_bytes(schema: dict[str, Any], record: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), record)
    return out.getvalue()


