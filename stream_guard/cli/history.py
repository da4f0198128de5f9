"""`stream-guard history`: the check values the workers kept in Redis, as sparklines."""

from __future__ import annotations

import argparse
import difflib
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from stream_guard.cli.common import command, counted, on_redis, one_monitor, redacted_url
from stream_guard.core.alerting.alerts import iso
from stream_guard.core.topology.check_specs import ChecksSpec
from stream_guard.core.topology.file import load_topology, with_overrides
from stream_guard.errors import StreamGuardError

SPARKS = "▁▂▃▄▅▆▇█"
SEVERITY_STYLE = {"ok": "green", "info": "cyan", "warning": "yellow", "critical": "bold red"}
OTHER_CHECKS = ("state_cap", "source")   # graded without a `checks:` entry of their own


def history_parser(commands: Any) -> None:
    sub = command(commands, "history", "a check's value over recent windows, as a sparkline per feature",
                  _history)
    sub.description = ("Reads the check values the workers kept in Redis (state.retention, 7 days by default) and "
                       "draws one line per feature and check: a sparkline over the windows, oldest on the left, "
                       "coloured by severity, then the latest and the largest value.")
    sub.add_argument("topology", metavar="TOPOLOGY", type=Path, help="a topology YAML file")
    sub.add_argument("--monitor", metavar="M", help="which monitor (default: the only one)")
    sub.add_argument("--feature", metavar="F", help="only this feature (`*` for the monitor's volume)")
    sub.add_argument("--check", metavar="C", help="only this check, e.g. numeric_drift")
    sub.add_argument("--windows", type=int, default=60, metavar="N", help="how many recent windows (default 60)")
    sub.add_argument("--redis", metavar="URL", help="Redis URL (env SG_REDIS; else the topology's)")


def _history(args: argparse.Namespace) -> int:

    from stream_guard.adapters.redis_store import RedisStateStore

    topology = with_overrides(load_topology(args.topology), redis=args.redis)
    monitor = one_monitor(topology, args.monitor)
    _check_names(monitor, args.feature, args.check)
    store = RedisStateStore.for_topology(topology)

    windows = on_redis(store, lambda: store.history(monitor.name, max(args.windows, 1)))
    keys = sorted({(f, c) for w in windows for f, c, _, _ in w["checks"]
                   if (args.feature is None or f == args.feature) and (args.check is None or c == args.check)})
    if not keys:
        wanted = [f"feature {args.feature!r}" if args.feature else "", f"check {args.check!r}" if args.check else ""]
        what = " and ".join(filter(None, wanted))
        raise StreamGuardError(f"no evaluated windows of monitor {monitor.name}{' for ' + what if what else ''} "
                               f"in Redis at {redacted_url(topology.redis.url)}")
    grid: dict[tuple[str, str], list[tuple[str, float | None]]] = {k: [("ok", None)] * len(windows) for k in keys}
    for i, window in enumerate(windows):
        for feature, check, severity, value in window["checks"]:
            if (feature, check) in grid:
                grid[(feature, check)][i] = (severity, value)
    console = Console(soft_wrap=True)
    console.print(f"{monitor.name}: {counted(len(windows), 'window')} from {iso(windows[0]['start'])} to "
                  f"{iso(windows[-1]['start'] + monitor.window.size)}")
    width = max(len(f"{f}/{c}") for f, c in keys)
    for (feature, check), points in grid.items():
        line = Text(f"{feature}/{check}".ljust(width + 2))
        for mark, severity in sparkline(points):
            line.append(mark, style=SEVERITY_STYLE.get(severity, ""))
        values = [v for _, v in points if v is not None]
        line.append(f"  latest {_num(values[-1] if values else None)}  max {_num(max(values, default=None))}")
        console.print(line)
    return 0


def _check_names(monitor: Any, feature: str | None, check: str | None) -> None:
    """A feature or check the topology does not have is a typo, not an empty history: say so first."""
    features = sorted(monitor.all_features())
    if feature is not None and feature != "*" and not feature.startswith("source:") and feature not in features:
        raise StreamGuardError(f"monitor {monitor.name} has no feature {feature!r}{_closest(feature, features)}; "
                               f"its features: {', '.join(features)} (`*` for the monitor as a whole)")
    checks = sorted([*ChecksSpec.model_fields, *OTHER_CHECKS])
    if check is not None and check not in checks:
        raise StreamGuardError(f"no check is named {check!r}{_closest(check, checks)}; the checks: {', '.join(checks)}")


def _closest(name: str, known: list[str]) -> str:
    match = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def sparkline(points: list[tuple[str, float | None]]) -> list[tuple[str, str]]:
    """One bar per window, scaled to the largest value; a blank where nothing was computed.

    >>> "".join(mark for mark, _ in sparkline([("ok", 0.0), ("ok", 0.5), ("critical", 1.0), ("ok", None)]))
    '▁▅█ '
    """
    top = max((v for _, v in points if v is not None), default=0.0) or 1.0
    return [(" " if v is None else SPARKS[round(max(v, 0.0) / top * (len(SPARKS) - 1))], severity)
            for severity, v in points]


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"
