"""The first line a worker prints says what it reads, where, and where its status page is."""

from __future__ import annotations

from pathlib import Path

from stream_guard.core.topology.file import load_topology, with_overrides
from stream_guard.runtime.worker import missing_topics_line, startup_line

DEMO = Path(__file__).resolve().parents[2] / "topologies" / "demo.yaml"


def test_the_startup_line_names_the_monitors_the_services_and_the_status_page() -> None:
    topology = with_overrides(load_topology(DEMO), "kafka://127.0.0.1:44281", "redis://127.0.0.1:50195/0")
    assert startup_line(topology, 16066) == (
        "stream-guard worker: app demo-guard, monitors fraud-model; broker kafka://127.0.0.1:44281, "
        "Redis redis://127.0.0.1:50195/0; status page http://127.0.0.1:16066/ (JSON /status, Prometheus /metrics)")


def test_the_startup_line_hides_a_password_and_falls_back_to_the_topology_port() -> None:
    topology = with_overrides(load_topology(DEMO), None, "redis://:s3cret@redis:6379/0")
    line = startup_line(topology, None)
    assert "s3cret" not in line
    assert "Redis redis://:***@redis:6379/0; status page http://127.0.0.1:6066/ " in line


def test_topics_the_broker_does_not_have_are_named_with_what_to_do() -> None:
    assert missing_topics_line(["fraud.features"], "kafka://user:pw@127.0.0.1:9092") == (
        "stream-guard worker: topic fraud.features is not on the broker at kafka://user:***@127.0.0.1:9092 yet; the "
        "worker creates no topic: create it with the partitions you want (stream-guard local up --topology F does, "
        "on the local stack). A broker that creates topics on first use gives them its default partition count.")
