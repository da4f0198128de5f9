"""From evaluations to alert records: the lifecycle of each alerting series, after Prometheus rules and Alertmanager.

Counted in the windows where the series' check has a value (others neither count nor break a run):

- a severity fires once the series has been at or above it `for` windows in a row (pending until then);
- a firing severity holds until the series has been below it for more than `keep_firing_for` windows,
  then the series de-escalates to the highest severity still held, or resolves;
- after a resolve the series cannot fire again for `cooldown` windows (it stays pending);
- an unchanged firing series is re-emitted every `repeat` windows.

Otherwise nothing is emitted: the same severity twice is one record. Features that declare a `source`
never alert alone; their firing series fold into one source-level alert (`inhibition`).

The `AlertBook` is the whole state and round-trips through JSON (version 2; version 1 is read too)
so the live worker can keep it in Redis. It also carries the `cusum` check's sums (`sequential`), which
must persist with the alerts they lead to.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from itertools import groupby
from typing import Any

from stream_guard.core.alerting.alerts import SEVERITY_RANK, Evaluation, finite, iso, record_id
from stream_guard.core.alerting.inhibition import member_entries, source_fingerprint, source_record
from stream_guard.core.alerting.series import LEVELS, Change, SeriesState, SourceState
from stream_guard.core.topology.monitor import AlertingSpec, MonitorSpec

BOOK_VERSION = 2


class BookFormatError(ValueError):
    """A stored alert book this version cannot read."""


@dataclass
class AlertBook:
    policy: AlertingSpec = field(default_factory=AlertingSpec)
    sources: dict[str, str] = field(default_factory=dict)           # feature -> the source it declares
    series: dict[str, SeriesState] = field(default_factory=dict)    # fingerprint -> state
    groups: dict[str, SourceState] = field(default_factory=dict)    # source-level fingerprint -> state
    sequential: dict[str, list[float]] = field(default_factory=dict)  # segment<mark>feature -> cusum S⁺, S⁻

    @classmethod
    def for_monitor(cls, monitor: MonitorSpec, saved: Mapping[str, Any] | None = None) -> AlertBook:
        """The book of `monitor`, restored from its saved JSON when given."""
        return cls.from_json(saved, monitor.alerting, monitor.sources())

    def apply(self, evaluations: Iterable[Evaluation]) -> list[dict[str, Any]]:
        """The alert records these evaluations cause, in order; they are taken one window at a time."""
        records: list[dict[str, Any]] = []
        for _, window in groupby(evaluations, key=lambda e: e.window_start):
            records.extend(self._apply_window(list(window)))
        return records

    def _apply_window(self, evaluations: list[Evaluation]) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        members: dict[str, list[Evaluation]] = defaultdict(list)
        for e in evaluations:
            if e.value is None:
                continue  # no evidence either way: keep the series as it is
            source = self.sources.get(e.feature)
            group = source_fingerprint(e.monitor, e.segment, source) if source else None
            state, change = self._observe(e, group)
            if group is not None:
                members[group].append(e)
            elif change is not None:
                records.append(self._series_record(e, state, change))
        for group, evaluated in sorted(members.items(), key=lambda kv: self.sources[kv[1][0].feature]):
            record = self._settle_source(group, evaluated)
            if record is not None:
                records.append(record)
        return records

    def _observe(self, e: Evaluation, group: str | None) -> tuple[SeriesState, Change | None]:
        state = self.series.get(e.fingerprint) or SeriesState(feature=e.feature, check=e.check)
        state.group, state.value = group, e.value
        change = state.settle(state.observe(e.severity, self.policy), e.window_start, self.policy)
        if state.idle:
            self.series.pop(e.fingerprint, None)
        else:
            self.series[e.fingerprint] = state
        return state, change

    def _series_record(self, e: Evaluation, state: SeriesState, change: Change) -> dict[str, Any]:
        summary = e.summary
        if change.status == "resolved":
            summary = f"Resolved. {summary}"
        elif change.repeat:
            since = e.window_start if state.since is None else state.since
            summary = f"Still firing since {iso(since)} (repeat {change.repeat}). {summary}"
        record = e.alert(change.status, change.severity, summary)
        if change.repeat:
            record["repeat"] = change.repeat
        state.alert_id = record["id"]
        return record

    def _settle_source(self, group: str, evaluated: list[Evaluation]) -> dict[str, Any] | None:
        name = self.sources[evaluated[0].feature]
        state = self.groups.get(group) or SourceState(name=name)
        firing = [s for s in self.series.values() if s.group == group and s.severity is not None]
        worst = max(firing, key=lambda s: SEVERITY_RANK[s.severity or "ok"]).severity if firing else None
        change = state.settle(worst, evaluated[0].window_start, self.policy)
        record = None
        if change is not None:
            if change.status == "firing":
                state.features = member_entries(firing)
            record = source_record(change.status, change.severity, change.repeat, state, self._lead(evaluated))
            state.alert_id = record["id"]
        if state.idle:
            self.groups.pop(group, None)
        else:
            self.groups[group] = state
        return record

    def _lead(self, evaluated: list[Evaluation]) -> Evaluation:
        """The member evaluation a source-level record takes its value, threshold and reference from."""
        def rank(e: Evaluation) -> tuple[int, float]:
            state = self.series.get(e.fingerprint)
            return SEVERITY_RANK[state.severity if state and state.severity else "ok"], e.value or 0.0
        return max(evaluated, key=rank)

    @property
    def firing(self) -> dict[str, dict[str, Any]]:
        """The alerts firing now, by fingerprint: series alerting alone and source-level ones."""
        alone = {fp: {"severity": s.severity, "since": s.since, "feature": s.feature, "check": s.check}
                 for fp, s in self.series.items() if s.severity is not None and s.group is None}
        grouped = {fp: {"severity": g.severity, "since": g.since, "feature": f"source:{g.name}", "check": "source"}
                   for fp, g in self.groups.items() if g.severity is not None}
        return alone | grouped

    def firing_features(self) -> list[dict[str, Any]]:
        """Every firing feature series with its severity, latest value and the id of the alert announcing it."""
        out = []
        for state in self.series.values():
            group = self.groups.get(state.group) if state.group else None
            if state.severity is None or (state.group and (group is None or group.severity is None)):
                continue  # pending, or its source is held back by a cooldown
            entry = {"feature": state.feature, "check": state.check, "severity": state.severity,
                     "value": finite(state.value)}
            if group is not None:
                entry["source"] = group.name
            entry["alert_id"] = group.alert_id if group is not None else state.alert_id
            out.append(entry)
        return out

    def to_json(self) -> dict[str, Any]:
        return {"version": BOOK_VERSION,
                "series": {fp: asdict(s) for fp, s in self.series.items()},
                "sources": {fp: asdict(g) for fp, g in self.groups.items()},
                **({"sequential": {k: list(v) for k, v in self.sequential.items()}} if self.sequential else {})}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None, policy: AlertingSpec | None = None,
                  sources: Mapping[str, str] | None = None) -> AlertBook:
        """A book from `to_json` output (or a version-1 book), alerting under `policy`."""
        book = cls(policy or AlertingSpec(), dict(sources or {}))
        data = data or {}
        version = data.get("version", 1)
        if version == 1:
            book.series = {fp: _from_v1(fp, entry) for fp, entry in data.get("firing", {}).items()}
        elif version == BOOK_VERSION:
            book.series = {fp: SeriesState(**s) for fp, s in data.get("series", {}).items()}
            book.groups = {fp: SourceState(**g) for fp, g in data.get("sources", {}).items()}
            book.sequential = {k: [float(x) for x in v] for k, v in data.get("sequential", {}).items()}
        else:
            raise BookFormatError(f"alert book format v{version}; this version reads v1 and v{BOOK_VERSION}")
        return book


def _from_v1(fp: str, entry: Mapping[str, Any]) -> SeriesState:
    """A version-1 entry was a firing series whose last record fired at `since`."""
    severity = entry["severity"]
    reached = {level: int(SEVERITY_RANK[level] <= SEVERITY_RANK[severity]) for level in LEVELS}
    return SeriesState(feature=entry["feature"], check=entry["check"], severity=severity, since=entry["since"],
                       above=reached, alert_id=record_id(fp, entry["since"], "firing"))
