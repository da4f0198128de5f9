"""The window digest (`stream_guard.digest/v1`): one record per monitor window in which anything is firing.

It ranks the firing features by severity, then by effect size (the check's value), so a reader sees
what matters most first, whatever alert records the window did or did not emit.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from stream_guard.core.alerting.alerts import fingerprint, iso, record_id, worst_first
from stream_guard.core.topology.check_specs import SEVERITIES

DIGEST_SCHEMA = "stream_guard.digest/v1"


def window_digest(monitor: str, start: int, end: int, emitted_at: int,
                  firing: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The digest of window `[start, end)` of `monitor`, or None when nothing is firing.

    The id depends on the monitor and window only, so a replay gives the live run's digest ids.
    """
    if not firing:
        return None
    ranked = worst_first(firing)
    return {
        "schema": DIGEST_SCHEMA,
        "id": record_id(fingerprint(monitor, "", "", "digest"), start, "digest"),
        "monitor": monitor,
        "window": {"start": iso(start), "end": iso(end)},
        "emitted_at": iso(emitted_at),
        "summary": _summary(ranked),
        "firing": ranked,
    }


def _summary(ranked: list[dict[str, Any]]) -> str:
    counts = Counter(entry["severity"] for entry in ranked)
    tally = ", ".join(f"{counts[s]} {s}" for s in reversed(SEVERITIES) if counts[s])
    top = ranked[0]
    return f"{len(ranked)} firing ({tally}); worst: {top['feature']} {top['check']}."
