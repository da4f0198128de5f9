"""The worker's web views: `/status` (JSON), the status page (`/`, `/monitors/NAME`,
`/monitors/NAME/features/FEATURE`) and `/metrics` (Prometheus), all on the Faust web port.

Also the observer and publisher wrappers that feed them: they keep what the page needs in memory
(`stream_guard.views.live_view`) and record durations and alert counts (`stream_guard.runtime.metrics`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import faust

from stream_guard.core.alerting.alerts import iso
from stream_guard.core.decoding.records import DeadLetter
from stream_guard.core.engine import MonitorEngine, WindowResult
from stream_guard.core.judging.evaluation import SEGMENT_ALL
from stream_guard.core.judging.freshness import CHECK as FRESHNESS
from stream_guard.core.judging.freshness import freshness_evaluation
from stream_guard.core.ports import Publisher
from stream_guard.runtime.metrics import CONTENT_TYPE, WorkerMetrics, open_window_bytes
from stream_guard.runtime.monitor_runtime import MonitorRuntime
from stream_guard.runtime.observer import RuntimeObserver
from stream_guard.views import status_page as status_views
from stream_guard.views.live_view import MonitorView, check_json


class WorkerObserver(RuntimeObserver):
    """Feeds the status page's memory and the metrics from the runtimes' hooks."""

    def __init__(self, views: Mapping[str, MonitorView], metrics: WorkerMetrics, clock: Callable[[], int]) -> None:
        self.views = views
        self.metrics = metrics
        self.clock = clock

    def flushed(self, monitor: str, seconds: float) -> None:
        self.metrics.flush_seconds.labels(monitor=monitor).observe(seconds)

    def window_closed(self, engine: MonitorEngine, result: WindowResult, seconds: float) -> None:
        name = engine.monitor.name
        self.views[name].window_closed(engine, result, self.clock())
        self.metrics.evaluation_seconds.labels(monitor=name).observe(seconds)
        self.metrics.windows.labels(monitor=name).inc()
        self.metrics.window_closed(name, result.closed.profile)

    def published(self, records: Sequence[dict[str, Any]]) -> None:
        self.metrics.published(records)
        for record in records:
            view = self.views.get(record.get("monitor", ""))
            if view is not None:
                view.published([record])


class ObservedPublisher:
    """A publisher that tells the observer about the alert records it has sent."""

    def __init__(self, inner: Publisher, observer: WorkerObserver) -> None:
        self.inner = inner
        self.observer = observer

    async def alerts(self, records: Sequence[dict[str, Any]]) -> None:
        await self.inner.alerts(records)
        self.observer.published(records)

    async def dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        await self.inner.dead_letters(letters)

    async def flush(self) -> None:
        await self.inner.flush()


def runtime_status(runtime: MonitorRuntime) -> dict[str, Any]:
    """A monitor's counts and progress as its runtime holds them (the part of `/status` that survives
    restarts: counts and offsets come from the state store)."""
    last, clock = runtime.engine.last_evaluated, runtime.clock
    silent = runtime.freshness.seconds_since(clock())
    return {
        "watermark": iso(w) if (w := runtime.engine.watermark()) is not None else None,
        "last_evaluated_window": None if last is None else
        {"start": iso(last), "end": iso(last + runtime.monitor.window.size)},
        "evaluating": runtime.evaluating,
        "source_partitions": runtime.source.partitions(),
        "firing": len(runtime.engine.book.firing),
        "seconds_since_last_event": max(silent.values(), default=None),
        "redis_errors": runtime.redis_errors,
        "partitions": {
            str(p): {**f.counts.as_dict(), "offset": f.next_offset,
                     "stored_offset": runtime.stored_offsets.get(p),
                     "epoch": runtime.epochs.get(p),
                     "log_resets": f.log_resets,
                     "watermark": iso(f.watermark) if f.watermark is not None else None,
                     "seconds_since_last_event": silent.get(p)}
            for p, f in sorted(runtime.engine.folders.items())
        },
    }


def monitor_status(runtime: MonitorRuntime, view: MonitorView) -> dict[str, Any]:
    """A monitor's part of `/status`: the runtime's counts, the latest window's checks, freshness now, the alerts
    (firing ones with the wall-clock time they fired and their summary) and how far event time is behind."""
    entries = sorted(runtime.engine.book.firing.items(), key=lambda kv: (kv[1]["feature"], kv[1]["check"]))
    firing = [_firing_json(fp, f, view) for fp, f in entries]
    now, mark = runtime.clock(), runtime.engine.watermark()
    held = next((f["severity"] for f in firing if f["check"] == FRESHNESS), None)
    fresh = freshness_evaluation(runtime.monitor, now, runtime.freshness.heard, held)
    return {**runtime_status(runtime), "latest_window": view.window_json(), "firing_alerts": firing,
            "recent_alerts": view.recent_alerts(), "freshness": check_json(fresh) if fresh else None,
            "state": view.state_json({str(p): b for p, b in sorted(open_window_bytes(runtime.engine).items())}),
            "behind_seconds": max(now - mark, 0) / 1000 if mark is not None else None,
            **{k: v for extension in runtime.extensions for k, v in extension.status().items()}}


def _firing_json(fingerprint: str, entry: Mapping[str, Any], view: MonitorView) -> dict[str, Any]:
    fired_at, summary = view.firing_since(fingerprint)
    return {"fingerprint": fingerprint, "feature": entry["feature"], "check": entry["check"],
            "severity": entry["severity"], "since": iso(entry["since"]) if entry["since"] is not None else None,
            "fired_at": fired_at, "summary": summary}


def worker_status(app_name: str, runtimes: Mapping[str, MonitorRuntime], views: Mapping[str, MonitorView],
                  only: str | None = None) -> dict[str, Any]:
    names = [only] if only is not None else list(runtimes)
    return {"app": app_name, "monitors": {n: monitor_status(runtimes[n], views[n]) for n in names}}


def add_views(app: faust.App, app_name: str, runtimes: Mapping[str, MonitorRuntime],
              views: Mapping[str, MonitorView], metrics: WorkerMetrics) -> None:
    """Register `/status`, the status page and `/metrics` on the app's web server."""

    @app.page("/status")
    async def status(web: Any, request: Any) -> Any:
        only = request.query.get("monitor")
        if only is not None and only not in runtimes:
            return web.json({"error": f"no monitor named {only!r}", "monitors": list(runtimes)}, status=404)
        return web.json(worker_status(app_name, runtimes, views, only))

    @app.page("/")
    async def index(web: Any, request: Any) -> Any:
        return web.html(status_views.index_page(worker_status(app_name, runtimes, views)))

    @app.page("/monitors/{name}")
    async def monitor(web: Any, request: Any, name: str) -> Any:
        if name not in runtimes:
            return web.html(status_views.not_found_page(f"no monitor named {name!r}"), status=404)
        return web.html(status_views.monitor_page(app_name, name, monitor_status(runtimes[name], views[name])))

    @app.page("/monitors/{name}/features/{feature}")
    async def feature(web: Any, request: Any, name: str, feature: str) -> Any:
        if name not in runtimes or feature not in runtimes[name].monitor.all_features():
            return web.html(status_views.not_found_page(f"no feature {feature!r} in monitor {name!r}"), status=404)
        segment = request.query.get("segment", SEGMENT_ALL)
        data = monitor_status(runtimes[name], views[name])
        view = views[name]
        page = status_views.feature_page(app_name, name, feature, segment, data, view.plot(feature, segment),
                                         view.check_history(feature, segment), view.feature_alerts(feature, segment))
        return web.html(page)

    @app.page("/metrics")
    async def prometheus(web: Any, request: Any) -> Any:
        return web.bytes(metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})
