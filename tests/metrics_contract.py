"""The Prometheus metrics a worker serves on /metrics: the names and labels that deploy/prometheus and
deploy/grafana query. One list, so it can be checked against the real /metrics output as well.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    kind: str                  # counter, gauge or histogram
    labels: frozenset[str]


def _m(kind: str, *labels: str) -> Metric:
    return Metric(kind, frozenset(labels))


METRICS: dict[str, Metric] = {
    "stream_guard_events_consumed_total": _m("counter", "monitor", "partition"),
    "stream_guard_events_folded_total": _m("counter", "monitor", "partition"),
    "stream_guard_events_filtered_total": _m("counter", "monitor", "partition"),
    "stream_guard_dead_letters_total": _m("counter", "monitor", "partition", "reason"),
    "stream_guard_consumer_lag": _m("gauge", "monitor", "topic", "partition"),
    "stream_guard_seconds_since_last_event": _m("gauge", "monitor", "partition"),
    "stream_guard_watermark_timestamp_seconds": _m("gauge", "monitor"),
    "stream_guard_flush_duration_seconds": _m("histogram", "monitor"),
    "stream_guard_evaluation_duration_seconds": _m("histogram", "monitor"),
    "stream_guard_alerts_total": _m("counter", "monitor", "severity", "status"),
    "stream_guard_windows_evaluated_total": _m("counter", "monitor"),
    "stream_guard_redis_errors_total": _m("counter"),
    "stream_guard_firing_alerts": _m("gauge", "monitor", "severity"),
    "stream_guard_worker_info": _m("gauge", "app"),
    "stream_guard_window_state_bytes": _m("gauge", "monitor", "partition"),
    "stream_guard_max_window_bytes": _m("gauge", "monitor"),
    "stream_guard_windows_over_state_cap_total": _m("counter", "monitor"),
    "stream_guard_state_pooled_events_total": _m("counter", "monitor"),
}

# added by Prometheus to every scraped series, and its own per-target series
TARGET_LABELS = frozenset({"job", "instance"})
PROMETHEUS_SERIES: dict[str, Metric] = {"up": _m("gauge")}
HISTOGRAM_SUFFIXES = {"_bucket": frozenset({"le"}), "_sum": frozenset(), "_count": frozenset()}


def series(name: str) -> Metric | None:
    """The metric a queried series name belongs to (a histogram's `_bucket`/`_sum`/`_count` too), or None."""
    if name in METRICS and METRICS[name].kind != "histogram":
        return METRICS[name]
    if name in PROMETHEUS_SERIES:
        return PROMETHEUS_SERIES[name]
    for suffix, extra in HISTOGRAM_SUFFIXES.items():
        base = METRICS.get(name.removesuffix(suffix)) if name.endswith(suffix) else None
        if base is not None and base.kind == "histogram":
            return Metric("counter", base.labels | extra)
    return None
