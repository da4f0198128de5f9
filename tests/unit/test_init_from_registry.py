"""`stream-guard init --from-registry SUBJECT` writes a starter topology that validates."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stream_guard.cli.main import main
from stream_guard.core.topology.file import load_topology
from tests.registry_events import Producers
from tests.schema_registry_server import SchemaRegistryServer


@pytest.fixture(scope="module")
def registry() -> Iterator[SchemaRegistryServer]:
    server = SchemaRegistryServer()
    event = {"ts": 1_800_000_000_000, "event_id": "e", "model_version": "v", "prediction": {"score": 0.1},
             "features": {"amount": 1.0, "age": 3, "country": "DE", "device": "ios", "tenure_days": 2.0}}
    producers = Producers(server.url, "fraud")
    producers.avro([event])
    Producers(server.url, "fraud-proto").protobuf([event])
    Producers(server.url, "fraud-json").json_schema([event])
    yield server
    server.stop()


@pytest.mark.parametrize(("subject", "fmt"), [("fraud-value", "avro"), ("fraud-proto-value", "protobuf"),
                                              ("fraud-json-value", "json_schema")])
def test_init_writes_a_starter_topology_with_features_by_type_and_the_time_field_guessed(
        registry: SchemaRegistryServer, tmp_path: Path, subject: str, fmt: str) -> None:
    out = tmp_path / "starter.yaml"
    assert main(["init", "--from-registry", subject, "--schema-registry", registry.url, "--out", str(out)]) == 0
    monitor = load_topology(out).monitors[0]
    assert (monitor.source.topic, monitor.source.format, monitor.source.timestamp) == (
        subject.removesuffix("-value"), fmt, "ts")
    kinds = {name: spec.type for name, spec in monitor.features.items()}
    assert kinds == {"amount": "numeric", "age": "numeric", "tenure_days": "numeric", "score": "numeric",
                     "country": "categorical", "device": "categorical", "event_id": "categorical",
                     "model_version": "categorical"}
    assert "REVIEW" in out.read_text()


def test_init_of_an_unknown_subject_says_so(registry: SchemaRegistryServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--from-registry", "nope-value", "--schema-registry", registry.url]) == 1
    assert "has no such schema or subject" in capsys.readouterr().err
