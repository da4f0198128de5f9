"""`stream-guard validate TOPOLOGY --events FILE`: what a file of events gives each monitor, before any check.

The file is read through each monitor's decoder and windows exactly as `replay` reads it (the same dead
letters with their reasons, the same late events, the same windows), but every window is closed without
evaluating it: the report says how many events each monitor keeps, how many windows they make, how many of
those are thinner than `min_samples` (whose checks could grade `info` at most) and the window size that
would reach it, and why the rest were dead-lettered.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from stream_guard.core.judging.thin_windows import ThinWindows
from stream_guard.core.topology.durations import format_duration
from stream_guard.core.topology.monitor import MonitorSpec
from stream_guard.core.topology.topology import Topology
from stream_guard.offline.replay import file_engine, read_records


@dataclass
class EventsReport:
    """What one monitor made of the file."""

    monitor: MonitorSpec
    thin: ThinWindows
    consumed: int = 0
    folded: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)   # reason -> count
    open_windows: int = 0       # windows the file's events never passed (end plus grace)
    open_events: int = 0

    def lines(self) -> list[str]:
        """The report as the command prints it, one fact per line."""
        name, size = self.monitor.name, format_duration(self.monitor.window.size)
        thin = self.thin
        share = f" ({thin.thin / thin.windows:.0%})" if thin.windows else ""
        out = [f"monitor {name}: {self.consumed:,} events read, {self.folded:,} folded into {thin.windows:,} "
               f"windows of {size}" + (f" (and {self.open_windows:,} still open at the end of the file, "
                                       f"{self.open_events:,} events)" if self.open_windows else "")]
        if thin.mostly_thin():
            out.append(f"  thin windows: {thin.sentence()}")
        elif thin.windows:
            reaching = thin.window_reaching()
            enough = (f"; a window of {format_duration(reaching)} holds about {thin.min_samples} at this rate"
                      if reaching else "")
            out.append(f"  thin windows: {thin.thin} of {thin.windows}{share} under min_samples "
                       f"({thin.min_samples}){enough}")
        else:
            out.append("  thin windows: no window closed: the file spans less than one window plus its grace")
        dead = sum(self.dead_letters.values())
        reasons = ", ".join(f"{reason} {n:,}" for reason, n in sorted(self.dead_letters.items(),
                                                                       key=lambda kv: (-kv[1], kv[0])))
        out.append(f"  dead letters: {dead:,}" + (f" ({reasons})" if reasons else ""))
        return out


def check_events(topology: Topology, path: Path) -> list[EventsReport]:
    """Read `path` through every monitor of `topology`, closing windows as they become due, unevaluated."""
    engines = [file_engine(m, path) for m in topology.monitors]
    reports = [EventsReport(e.monitor, ThinWindows(e.monitor.min_samples, e.monitor.window.size)) for e in engines]
    for batch in read_records(path):
        for engine, report in zip(engines, reports):
            for letter in engine.fold(batch):
                report.dead_letters[letter.reason] += 1
            for start in engine.due_windows():
                report.thin.add(sum(p.events for p in engine.local_profiles(start)))
                engine.last_evaluated = start
                for folder in engine.folders.values():
                    folder.close_through(start + engine.monitor.window.step)
    for engine, report in zip(engines, reports):
        folders = engine.folders.values()
        report.consumed = sum(f.counts.consumed for f in folders)
        report.folded = sum(f.counts.folded for f in folders)
        report.open_windows = len({s for f in folders for s in f.windows})
        report.open_events = sum(w.events for f in folders for w in f.windows.values())
    return reports
