"""Prometheus metrics of one worker, served as `/metrics` on its web port.

Counts that `/status` already shows (events consumed, folded, filtered, dead-lettered; freshness;
the watermark; firing alerts) are read from the monitor runtimes at scrape time by
`RuntimeCollector`, so `/metrics` and `/status` can never disagree. Durations, published alerts and
evaluated windows are recorded as they happen by `WorkerMetrics`. Every app has its own registry:
nothing is registered globally.

Every labelled counter exists at 0 for each label set known before its first event: each monitor's
severities × statuses, each assigned partition's dead-letter reasons (all of `DEAD_LETTER_REASONS`).
Prometheus' `increase()` and `rate()` need a sample before the first increment, or they miss it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from stream_guard.core.decoding.reasons import DEAD_LETTER_REASONS
from stream_guard.core.engine import MonitorEngine
from stream_guard.core.profiles.capping import estimated_bytes
from stream_guard.core.profiles.profile import WindowProfile
from stream_guard.runtime.monitor_runtime import MonitorRuntime

# no `*_created` series: they double the sample count and nothing in deploy/ reads them
disable_created_metrics()  # type: ignore[no-untyped-call]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SEVERITIES = ("info", "warning", "critical")
STATUSES = ("firing", "resolved")
FLUSH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
EVALUATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

Highwater = Callable[[str, int], "int | None"]   # (topic, partition) -> high watermark, None if unknown


class RuntimeCollector(Collector):
    """Reads the runtimes' own counts at scrape time."""

    def __init__(self, runtimes: Mapping[str, MonitorRuntime], highwater: Highwater) -> None:
        self.runtimes = runtimes
        self.highwater = highwater

    def collect(self) -> Iterator[Metric]:
        per_partition = ("monitor", "partition")
        consumed = CounterMetricFamily("stream_guard_events_consumed", "Events consumed (since the state began)",
                                       labels=per_partition)
        folded = CounterMetricFamily("stream_guard_events_folded", "Events folded into window profiles",
                                     labels=per_partition)
        filtered = CounterMetricFamily("stream_guard_events_filtered", "Events left out on purpose",
                                       labels=per_partition)
        dead = CounterMetricFamily("stream_guard_dead_letters", "Events sent to the dead-letter topic, by reason",
                                   labels=(*per_partition, "reason"))
        lag = GaugeMetricFamily("stream_guard_consumer_lag",
                                "High watermark minus the next offset the monitor will fold",
                                labels=("monitor", "topic", "partition"))
        silent = GaugeMetricFamily("stream_guard_seconds_since_last_event",
                                   "Seconds since the worker last received a record of the partition",
                                   labels=per_partition)
        watermark = GaugeMetricFamily("stream_guard_watermark_timestamp_seconds",
                                      "The monitor's event-time watermark, in epoch seconds", labels=("monitor",))
        window_bytes = GaugeMetricFamily("stream_guard_window_state_bytes",
                                         "Estimated stored bytes of the partition's largest open window",
                                         labels=per_partition)
        cap = GaugeMetricFamily("stream_guard_max_window_bytes", "The monitor's cap on a window's stored bytes",
                                labels=("monitor",))
        firing = GaugeMetricFamily("stream_guard_firing_alerts", "Alert series firing now, by severity",
                                   labels=("monitor", "severity"))
        for name, runtime in self.runtimes.items():
            topic = runtime.monitor.source.topic
            for partition, folder in sorted(runtime.engine.folders.items()):
                labels = [name, str(partition)]
                consumed.add_metric(labels, folder.counts.consumed)
                folded.add_metric(labels, folder.counts.folded)
                filtered.add_metric(labels, folder.counts.filtered)
                by_reason = folder.counts.dead_by_reason
                for reason in sorted({*DEAD_LETTER_REASONS, *by_reason}):
                    dead.add_metric([*labels, reason], by_reason.get(reason, 0))
                high = self.highwater(topic, partition)
                if high is not None:
                    lag.add_metric([name, topic, str(partition)], max(high - folder.next_offset, 0))
            for partition, seconds in runtime.freshness.seconds_since(runtime.clock()).items():
                silent.add_metric([name, str(partition)], seconds)
            for partition, size in sorted(open_window_bytes(runtime.engine).items()):
                window_bytes.add_metric([name, str(partition)], size)
            cap.add_metric([name], runtime.monitor.window_cap())
            mark = runtime.engine.watermark()
            if mark is not None:
                watermark.add_metric([name], mark / 1000)
            severities = [entry["severity"] for entry in runtime.engine.book.firing.values()]
            for severity in SEVERITIES:
                firing.add_metric([name, severity], severities.count(severity))
        errors = CounterMetricFamily("stream_guard_redis_errors", "Redis calls that failed (each retry counts)")
        errors.add_metric([], sum(runtime.redis_errors for runtime in self.runtimes.values()))
        yield from (consumed, folded, filtered, dead, lag, silent, watermark, firing, errors, window_bytes, cap)


class WorkerMetrics:
    """One worker's registry: the collector above, plus what is recorded as it happens."""

    def __init__(self, runtimes: Mapping[str, MonitorRuntime], highwater: Highwater, app: str,
                 monitors: Iterable[str]) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(RuntimeCollector(runtimes, highwater))
        self.flush_seconds = Histogram("stream_guard_flush_duration_seconds",
                                       "Time to write a monitor's changed partition state to Redis",
                                       ["monitor"], registry=self.registry, buckets=FLUSH_BUCKETS)
        self.evaluation_seconds = Histogram("stream_guard_evaluation_duration_seconds",
                                            "Time to close a window: read, merge, evaluate, publish, record",
                                            ["monitor"], registry=self.registry, buckets=EVALUATION_BUCKETS)
        self.alerts = Counter("stream_guard_alerts", "Alert records published (digests excluded)",
                              ["monitor", "severity", "status"], registry=self.registry)
        self.windows = Counter("stream_guard_windows_evaluated", "Windows this process evaluated",
                               ["monitor"], registry=self.registry)
        self.over_cap = Counter("stream_guard_windows_over_state_cap",
                                "Windows evaluated that went over the monitor's max_window_bytes",
                                ["monitor"], registry=self.registry)
        self.pooled = Counter("stream_guard_state_pooled_events",
                              "Events whose segment lost its own profile to max_window_bytes (folded into `other`)",
                              ["monitor"], registry=self.registry)
        info = Gauge("stream_guard_worker_info", "1, labelled with the topology's app (for rules to join on)",
                     ["app"], registry=self.registry)
        info.labels(app=app).set(1)
        for name in monitors:
            self._zero(name)

    def _zero(self, monitor: str) -> None:
        """Every series of `monitor` present from the first scrape, at zero."""
        self.windows.labels(monitor=monitor)
        self.over_cap.labels(monitor=monitor)
        self.pooled.labels(monitor=monitor)
        self.flush_seconds.labels(monitor=monitor)
        self.evaluation_seconds.labels(monitor=monitor)
        for severity in SEVERITIES:
            for status in STATUSES:
                self.alerts.labels(monitor=monitor, severity=severity, status=status)

    def window_closed(self, monitor: str, window: WindowProfile) -> None:
        """Count an evaluated window that went over its cap, and the events it pooled."""
        if window.peak_bytes:
            self.over_cap.labels(monitor=monitor).inc()
            self.pooled.labels(monitor=monitor).inc(window.pooled_events)

    def published(self, records: Any) -> None:
        for record in records:
            if record.get("schema") == "stream_guard.alert/v1":
                self.alerts.labels(monitor=record["monitor"], severity=record["severity"],
                                   status=record["status"]).inc()

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format (version 0.0.4)."""
        return generate_latest(self.registry)


def open_window_bytes(engine: MonitorEngine) -> dict[int, int]:
    """Per partition this worker folds: the estimated stored bytes of its largest open window (0: none open),
    as the last fold measured it."""
    return {p: max((w.estimate if w.estimate is not None else estimated_bytes(w) for w in f.windows.values()),
                   default=0) for p, f in engine.folders.items()}
