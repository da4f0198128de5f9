"""What a monitor runtime reports about its own work, for metrics and the status page.

The runtime calls these hooks after a flush and after closing a window; this default ignores them,
so a runtime built without an app (tests, tools) needs nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from stream_guard.core.decoding.records import RawRecord
from stream_guard.core.engine import MonitorEngine, WindowResult


class RuntimeObserver:
    def flushed(self, monitor: str, seconds: float) -> None:
        """A flush wrote changed partition state to Redis in `seconds`."""

    def window_closed(self, engine: MonitorEngine, result: WindowResult, seconds: float) -> None:
        """Window `result` was read, evaluated, published and recorded in `seconds`."""


class RuntimeExtension(Protocol):
    """Work a monitor runtime carries for another part (the label join): it sees every folded batch and
    stores its own state before the runtime stores the partitions' offsets."""

    async def folded(self, records: Sequence[RawRecord]) -> None: ...
    async def before_flush(self) -> None: ...
    def status(self) -> dict[str, Any]: ...
