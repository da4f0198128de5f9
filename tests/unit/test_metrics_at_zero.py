"""Before any event, /metrics already has every labelled counter at 0 for each label set it knows:
Prometheus' `increase()` and `rate()` count nothing for a series whose first sample is its first event.
"""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from stream_guard.adapters.redis_store import RedisStateStore
from stream_guard.core.decoding.reasons import DEAD_LETTER_REASONS
from stream_guard.core.topology.services import StateSpec
from stream_guard.runtime.metrics import WorkerMetrics
from stream_guard.runtime.monitor_runtime import MonitorRuntime

from .test_engine import DEMO

REASONS = ["empty", "future", "invalid_json", "invalid_timestamp", "late", "missing_timestamp", "no_magic_byte",
           "not_an_array", "not_an_object", "not_utf8", "oversized", "schema_mismatch", "too_deep", "too_old",
           "unknown_schema_id"]


class NoPublisher:
    async def alerts(self, records: Any) -> None: ...
    async def dead_letters(self, letters: Any) -> None: ...


def scrape(partitions: list[int]) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """A fresh worker's /metrics once the consumer group assigned it `partitions`: samples by name and labels."""
    runtime = MonitorRuntime(DEMO, StateSpec(), RedisStateStore("redis://127.0.0.1:1/0", "unit"), NoPublisher(),
                             clock=lambda: 0)
    for partition in partitions:
        runtime.engine.folder(partition)
    metrics = WorkerMetrics({DEMO.name: runtime}, lambda topic, p: None, "demo-guard", [DEMO.name])
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_dead_letters_are_at_zero_for_every_reason_of_every_assigned_partition() -> None:
    dead = scrape([0, 2])["stream_guard_dead_letters_total"]
    assert sorted(DEAD_LETTER_REASONS) == REASONS
    assert dead == {(("monitor", "fraud-model"), ("partition", p), ("reason", r)): 0.0
                    for p in ("0", "2") for r in REASONS}


def test_published_alerts_are_at_zero_for_every_severity_and_status() -> None:
    alerts = scrape([])["stream_guard_alerts_total"]
    assert alerts == {(("monitor", "fraud-model"), ("severity", s), ("status", t)): 0.0
                      for s in ("info", "warning", "critical") for t in ("firing", "resolved")}


def test_event_counts_are_at_zero_for_every_assigned_partition() -> None:
    samples = scrape([0, 1, 2])
    for name in ("stream_guard_events_consumed_total", "stream_guard_events_folded_total",
                 "stream_guard_events_filtered_total"):
        assert samples[name] == {(("monitor", "fraud-model"), ("partition", p)): 0.0 for p in "012"}, name


def test_windows_and_durations_are_at_zero_per_monitor_and_the_worker_names_its_app() -> None:
    samples = scrape([])
    monitor = (("monitor", "fraud-model"),)
    assert samples["stream_guard_windows_evaluated_total"] == {monitor: 0.0}
    assert samples["stream_guard_flush_duration_seconds_count"] == {monitor: 0.0}
    assert samples["stream_guard_evaluation_duration_seconds_count"] == {monitor: 0.0}
    assert samples["stream_guard_redis_errors_total"] == {(): 0.0}
    assert samples["stream_guard_worker_info"] == {(("app", "demo-guard"),): 1.0}


def test_every_reason_a_bad_record_is_dead_lettered_for_is_a_known_reason() -> None:
    from tests.bad_input import mixed_stream

    assert set(mixed_stream().dead) <= set(DEAD_LETTER_REASONS)
