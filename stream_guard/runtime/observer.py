"""What a monitor runtime reports about its own work, for metrics and the status page.

The runtime calls these hooks after a flush and after closing a window; this default ignores them,
so a runtime built without an app (tests, tools) needs nothing else.
"""

from __future__ import annotations

from stream_guard.core.engine import MonitorEngine, WindowResult


class RuntimeObserver:
    def flushed(self, monitor: str, seconds: float) -> None:
        """A flush wrote changed partition state to Redis in `seconds`."""

    def window_closed(self, engine: MonitorEngine, result: WindowResult, seconds: float) -> None:
        """Window `result` was read, evaluated, published and recorded in `seconds`."""
