"""A monitor as the topology declares it: its source, windows, reference, features, checks and alerting."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from stream_guard.core.topology.check_specs import ChecksSpec, MultipleTestingSpec
from stream_guard.core.topology.durations import Duration, format_duration
from stream_guard.core.topology.features import FeatureSpec
from stream_guard.core.topology.frozen import Frozen
from stream_guard.core.topology.model_spec import LabelsSpec, ModelSpec
from stream_guard.core.topology.rules import Rule, parse_rule
from stream_guard.core.topology.services import DEFAULT_MAX_WINDOW_BYTES, TopicName
from stream_guard.core.topology.sizes import Size
from stream_guard.core.topology.timestamps import parse_event_time
from stream_guard.core.topology.yaml_tree import AtKey


class SourceSpec(Frozen):
    topic: TopicName
    timestamp: str = Field(min_length=1, description="dotted path of the event time")
    format: Literal["json", "json_array", "ndjson", "avro", "protobuf", "json_schema"] = Field(
        default="json", description="one JSON event per message, or many (a JSON array or newline-delimited "
                                    "JSON), or one event in the Confluent wire format (see schema_registry)"
    )
    partitions: int = Field(default=1, ge=1, description="used when stream_guard creates the topic")
    batch_size: int | None = Field(
        default=None, ge=1, description="messages per batch; default 2000, or 10 for batched formats"
    )
    batch_within: Duration = 200
    idle_timeout: Duration = Field(
        default=10_000, description="an assigned partition silent this long no longer holds windows open; "
                                   "at least twice state.flush_interval"
    )
    max_message_bytes: int = Field(
        default=1024 * 1024, ge=1, description="longer messages are dead-lettered as `oversized`, unparsed"
    )
    max_future: Duration = Field(
        default=3_600_000, gt=0,
        description="an event further ahead than this of both the stream's time and the clock is `future`",
    )
    max_age: Duration | None = Field(
        default=None, gt=0,
        description="an event further behind the stream's time than this is `too_old`; "
                    "default 7d, or one window plus grace when that is longer",
    )

    def messages_per_batch(self) -> int:
        """How many messages the agent takes at once: about 2,000 events either way by default."""
        if self.batch_size is not None:
            return self.batch_size
        return 10 if self.format in ("json_array", "ndjson") else 2000


DEFAULT_MAX_AGE = 7 * 86_400_000


class WindowSpec(Frozen):
    """An event-time window `[start, start + size)` that closes `grace` after its end.

    Tumbling by default; with `hop` smaller than `size`, hopping (sliding): a window starts every
    `hop`, so each event belongs to `size / hop` overlapping windows.
    """

    size: Duration
    grace: Duration = 0
    hop: Duration | None = Field(default=None, description="hopping windows: a new window every hop (divides size)")

    @field_validator("size")
    @classmethod
    def _positive(cls, size: int) -> int:
        if size <= 0:
            raise ValueError("window size must be positive")
        return size

    @model_validator(mode="after")
    def _hop_divides(self) -> WindowSpec:
        if self.hop is not None and (self.hop <= 0 or self.hop > self.size or self.size % self.hop):
            raise ValueError(f"hop {format_duration(self.hop)} must divide the window size "
                             f"{format_duration(self.size)} (e.g. size 10m, hop 5m)")
        return self

    @property
    def step(self) -> int:
        """Time between window starts: the hop, or the size for tumbling windows."""
        return self.hop or self.size


class ReferenceSpec(Frozen):
    """What a closed window is compared with ("different from what?").

    - `rolling`: the previous `windows` closed windows;
    - `seasonal`: the same window `period` earlier (1d, 7d), averaged over `seasons` periods;
    - `fixed`: the closed windows between `start` and `end` (ISO-8601), kept for as long as needed;
    - `snapshot`: a named profile built by `stream-guard reference build` (`name:`), or, in
      `replay`, built on the fly from a file (`file:`).
    """

    kind: Literal["rolling", "seasonal", "fixed", "snapshot"] = "rolling"
    windows: int | None = Field(default=None, ge=1, description="rolling: how many previous windows (10)")
    min_windows: int | None = Field(default=None, ge=1, description="fewer reference windows and drift is not graded")
    exclude_critical: bool = Field(
        default=True, description="rolling and seasonal: leave out windows where the feature was critical"
    )
    period: Duration | None = Field(default=None, description="seasonal: 1d or 7d, a multiple of the window size")
    seasons: int | None = Field(default=None, ge=1, le=52, description="seasonal: how many periods back (1)")
    start: str | None = Field(default=None, description="fixed: ISO-8601 start of the reference range")
    end: str | None = Field(default=None, description="fixed: ISO-8601 end of the reference range (exclusive)")
    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.\-]+$", description="snapshot: its name")
    file: str | None = Field(default=None, description="snapshot, replay only: a file to build it from")

    _ONLY: ClassVar[dict[str, tuple[str, ...]]] = {
        "windows": ("rolling",), "period": ("seasonal",), "seasons": ("seasonal",),
        "start": ("fixed",), "end": ("fixed",), "name": ("snapshot",), "file": ("snapshot",),
        "min_windows": ("rolling", "seasonal", "fixed"),
    }

    @model_validator(mode="after")
    def _consistent(self) -> ReferenceSpec:
        for key, kinds in self._ONLY.items():
            if getattr(self, key) is not None and self.kind not in kinds:
                raise ValueError(f"{key} applies to {' and '.join(kinds)} references, not {self.kind}")
        if self.kind == "seasonal" and self.period is None:
            raise ValueError("a seasonal reference needs a period, e.g. period: 1d")
        if self.kind == "fixed":
            if self.start is None or self.end is None:
                raise ValueError("a fixed reference needs start and end (ISO-8601)")
            if self.range()[0] >= self.range()[1]:
                raise ValueError(f"start {self.start} is not before end {self.end}")
        if self.kind == "snapshot" and (self.name is None) == (self.file is None):
            raise ValueError("a snapshot reference needs exactly one of name (stored) or file (replay)")
        if self.min_windows is not None and self.min_windows > self.window_count():
            raise ValueError(f"min_windows {self.min_windows} is above the {self.window_count()} windows "
                             f"this reference has at most")
        return self

    def window_count(self) -> int:
        """How many windows the reference merges at most (rolling: windows; seasonal: seasons)."""
        if self.kind == "rolling":
            return self.windows or 10
        if self.kind == "seasonal":
            return self.seasons or 1
        return 1_000_000

    def needed_windows(self) -> int:
        """Fewer reference windows than this and drift is not graded."""
        if self.min_windows is not None:
            return self.min_windows
        return {"rolling": min(3, self.window_count()), "seasonal": self.window_count()}.get(self.kind, 1)

    def range(self) -> tuple[int, int]:
        """The fixed reference's [start, end) in epoch ms."""
        assert self.start is not None and self.end is not None
        return parse_event_time(self.start), parse_event_time(self.end)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _iso(cls, value: Any) -> Any:
        if isinstance(value, date) and not isinstance(value, datetime):   # YAML reads 2026-11-02 as a date
            value = datetime(value.year, value.month, value.day, tzinfo=UTC)
        if isinstance(value, datetime):   # and an unquoted ISO time as a datetime
            value = (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat().replace("+00:00", "Z")
        if isinstance(value, str):
            try:
                parse_event_time(value)
            except ValueError:
                raise ValueError(f"{value!r} is not an ISO-8601 time such as 2026-11-01T00:00:00Z") from None
        return value


def _window_count(value: object) -> object:
    if isinstance(value, (bool, str)):
        raise ValueError(f"counts monitor windows, not time: write a whole number such as 3 (got {value!r})")
    return value


WindowCount = Annotated[int, BeforeValidator(_window_count)]
ReferenceName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]+$")]
DEFAULT_REFERENCE = "reference"   # the name of the single `reference:` form


class AlertingSpec(Frozen):
    """When a graded series becomes an alert record, counted in monitor windows (event time, so replays agree).

    Windows whose check has no value (reference not ready, no data) neither count nor break a run.
    """

    for_: WindowCount = Field(
        default=1, ge=1, alias="for",
        description="consecutive windows at or above a severity before it fires (1: at once)",
    )
    keep_firing_for: WindowCount = Field(
        default=0, ge=0, description="windows below a firing severity it still holds before de-escalating or resolving"
    )
    cooldown: WindowCount = Field(
        default=0, ge=0, description="after a resolve, windows during which the same series cannot fire again"
    )
    repeat: WindowCount = Field(
        default=0, ge=0, description="re-emit a still-firing alert every this many windows (0: never)"
    )
    digest: bool = Field(default=True, description="one digest record per window in which anything is firing")


class MonitorSpec(Frozen):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    source: SourceSpec
    window: WindowSpec
    reference: ReferenceSpec = ReferenceSpec()
    references: dict[ReferenceName, ReferenceSpec] = Field(
        default={}, description="several named references (instead of `reference:`); a check names its own "
                                "with `reference: NAME`, else it uses the first one listed")
    features: dict[str, FeatureSpec] = {}
    uses: list[str] = Field(default=[], description="shared features (the topology's `features:`) it watches too")
    segment_by: list[str] = Field(default=[], max_length=3,
                                  description="dotted fields whose values split the monitor into segments")
    max_segments: int = Field(default=20, ge=1, le=1000,
                              description="segments profiled on their own per window; the rest pool as `other`")
    max_window_bytes: Size | None = Field(default=None, ge=4096,
                                          description="this monitor's own cap on a window's stored bytes "
                                                      "(default: the topology's state.max_window_bytes)")
    prediction: dict[str, FeatureSpec] = {}
    checks: ChecksSpec = ChecksSpec()
    min_samples: int = Field(default=200, ge=0, description="thinner windows grade at most info")
    multiple_testing: MultipleTestingSpec = MultipleTestingSpec()
    rules: list[str] = Field(default=[], description="per-record rules such as `age >= 0`, graded by the slo check")
    alerting: AlertingSpec = AlertingSpec()
    model: ModelSpec | None = Field(default=None, description="the model: task and threshold (with labels:)")
    labels: LabelsSpec | None = Field(default=None, description="where labels come from, for checks.performance")

    # set by the topology for shared features: every monitor using each one (its downstream), and
    # the shared features whose alerts another monitor reading the same source publishes
    _fan_out: dict[str, list[str]] = PrivateAttr(default_factory=dict)
    _quiet: frozenset[str] = PrivateAttr(default_factory=frozenset)

    @model_validator(mode="after")
    def _rules_parse(self) -> MonitorSpec:
        if not self.features and not self.uses:
            raise ValueError("a monitor needs at least one feature, of its own (features:) or shared (uses:)")
        for index, rule in enumerate(self.rules):
            if rule.split()[0].strip() not in self.uses:   # rules on shared features are checked by the topology
                try:
                    parse_rule(rule, self.all_features())
                except ValueError as exc:
                    raise AtKey(("rules", index), str(exc)) from None
        return self

    @property
    def fan_out(self) -> dict[str, list[str]]:
        return self._fan_out

    @property
    def quiet(self) -> frozenset[str]:
        return self._quiet

    @model_validator(mode="after")
    def _seasonal_period(self) -> MonitorSpec:
        if self.references and "reference" not in self.model_fields_set:   # the first named one is the default
            object.__setattr__(self, "reference", next(iter(self.references.values())))
        period = self.reference.period
        if not self.references and period is not None and period % self.window.step:
            raise ValueError(f"reference period {format_duration(period)} is not a multiple of the window size "
                             f"{format_duration(self.window.size)}")
        return self

    def reference_specs(self) -> dict[str, ReferenceSpec]:
        """Every reference by name: the named ones in order (the first is the default), or the single one."""
        return dict(self.references) if self.references else {DEFAULT_REFERENCE: self.reference}

    def default_reference(self) -> str:
        return next(iter(self.references), DEFAULT_REFERENCE)

    def judged_against(self, name: str) -> MonitorSpec:
        """The monitor as a check that uses reference `name` sees it: that reference in `reference`."""
        spec = self.reference_specs()[name]
        return self if spec is self.reference else self.model_copy(update={"reference": spec})

    @field_validator("window")
    @classmethod
    def _window_within_max_age(cls, window: WindowSpec, info: ValidationInfo) -> WindowSpec:
        source = info.data.get("source")
        span = window.size + window.grace
        if source is not None and source.max_age is not None and source.max_age < span:
            raise ValueError(
                f"the window plus its grace ({format_duration(span)}) is longer than source.max_age "
                f"({format_duration(source.max_age)}): events still on time would count as too old; "
                "raise source.max_age or leave it out"
            )
        return window

    @model_validator(mode="after")
    def _distinct_names(self) -> MonitorSpec:
        both = set(self.features) & set(self.prediction)
        if both:
            raise AtKey(("prediction", sorted(both)[0]),
                        f"{sorted(both)} named both as a feature and as a prediction")
        return self

    def max_event_age(self) -> int:
        """How far behind its partition's stream time an event may be before it is `too_old`, in ms."""
        if self.source.max_age is not None:
            return self.source.max_age
        return max(DEFAULT_MAX_AGE, self.window.size + self.window.grace)

    def parsed_rules(self) -> dict[str, list[Rule]]:
        """The rules by feature name."""
        out: dict[str, list[Rule]] = {}
        for rule in self.rules:
            parsed = parse_rule(rule, self.all_features())
            out.setdefault(parsed.feature, []).append(parsed)
        return out

    def window_cap(self) -> int:
        """The most bytes one partition's window profile of this monitor keeps (`max_window_bytes`)."""
        return self.max_window_bytes if self.max_window_bytes is not None else DEFAULT_MAX_WINDOW_BYTES

    def all_features(self) -> dict[str, FeatureSpec]:
        """Features and prediction fields together: both are profiled and checked alike."""
        return {**self.features, **self.prediction}

    def sources(self) -> dict[str, str]:
        """Feature name -> the upstream source it is declared to come from, for features that declare one."""
        return {name: spec.source for name, spec in self.all_features().items() if spec.source is not None}
