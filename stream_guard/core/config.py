"""The topology: what a user declares in YAML, as frozen pydantic models.

Loading the YAML text (with file and line numbers for errors) lives in `topology_file`; this module
only says what a valid topology is. Durations are integer milliseconds once loaded.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from stream_guard.core.durations import format_duration, parse_duration

Duration = Annotated[int, BeforeValidator(parse_duration)]
SEVERITIES = ("info", "warning", "critical")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SeverityLadder(_Frozen):
    """Thresholds on a check's value; reaching one grades the window at that severity (higher is worse)."""

    info: float | None = None
    warning: float | None = None
    critical: float | None = None
    enabled: bool = True

    @model_validator(mode="after")
    def _ordered(self) -> SeverityLadder:
        rungs = [(name, getattr(self, name)) for name in SEVERITIES if getattr(self, name) is not None]
        for (low_name, low), (high_name, high) in zip(rungs, rungs[1:]):
            if low > high:
                raise ValueError(
                    f"{low_name} threshold {low} is above {high_name} threshold {high}; "
                    f"{low_name} must be the lower one"
                )
        return self

    def grade(self, value: float) -> str:
        """The highest severity whose threshold `value` reaches, or `ok`."""
        for name in reversed(SEVERITIES):
            threshold = getattr(self, name)
            if threshold is not None and value >= threshold:
                return name
        return "ok"

    def threshold_for(self, severity: str) -> float | None:
        """The threshold that was crossed for `severity`, or the lowest configured one for `ok`."""
        if severity in SEVERITIES:
            return getattr(self, severity)  # type: ignore[no-any-return]
        return next((getattr(self, s) for s in SEVERITIES if getattr(self, s) is not None), None)


class NumericDriftCheck(SeverityLadder):
    """Distribution drift of a numeric feature against its reference."""

    metric: Literal["psi", "ks", "jensen_shannon"] = "psi"
    bins: int = Field(default=10, ge=2, le=100)
    warning: float | None = 0.1
    critical: float | None = 0.25


class CategoricalDriftCheck(SeverityLadder):
    """Distribution drift of a categorical feature against its reference."""

    metric: Literal["jensen_shannon", "psi", "linf"] = "jensen_shannon"
    warning: float | None = 0.1
    critical: float | None = 0.2


class MissingRateCheck(SeverityLadder):
    """Rise of the share of events where the field is absent or null, in absolute terms."""

    warning: float | None = 0.05
    critical: float | None = 0.2


class ChecksSpec(_Frozen):
    """Check settings; a check left out keeps its defaults."""

    numeric_drift: NumericDriftCheck = NumericDriftCheck()
    categorical_drift: CategoricalDriftCheck = CategoricalDriftCheck()
    missing_rate: MissingRateCheck = MissingRateCheck()


class FeatureChecks(_Frozen):
    """A feature's own check settings; each one given replaces the monitor's for that feature."""

    numeric_drift: NumericDriftCheck | None = None
    categorical_drift: CategoricalDriftCheck | None = None
    missing_rate: MissingRateCheck | None = None


class FeatureSpec(_Frozen):
    """One monitored field of the event."""

    type: Literal["numeric", "categorical"]
    field: str | None = Field(default=None, description="dotted path into the event; defaults to the name")
    min: float | None = None
    max: float | None = None
    checks: FeatureChecks = FeatureChecks()

    @model_validator(mode="after")
    def _range(self) -> FeatureSpec:
        if self.type == "categorical" and (self.min is not None or self.max is not None):
            raise ValueError("min and max apply to numeric features only")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class SourceSpec(_Frozen):
    topic: str = Field(min_length=1)
    timestamp: str = Field(min_length=1, description="dotted path of the event time")
    format: Literal["json", "json_array", "ndjson"] = Field(
        default="json", description="one event per message, or many: a JSON array or newline-delimited JSON"
    )
    partitions: int = Field(default=1, ge=1, description="used when stream_guard creates the topic")
    batch_size: int | None = Field(
        default=None, ge=1, description="messages per batch; default 2000, or 10 for batched formats"
    )
    batch_within: Duration = 200
    idle_timeout: Duration = Field(
        default=10_000, description="an assigned partition silent this long no longer holds windows open"
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
        return 2000 if self.format == "json" else 10


DEFAULT_MAX_AGE = 7 * 86_400_000


class WindowSpec(_Frozen):
    """A tumbling event-time window `[start, start + size)` that closes `grace` after its end."""

    size: Duration
    grace: Duration = 0

    @field_validator("size")
    @classmethod
    def _positive(cls, size: int) -> int:
        if size <= 0:
            raise ValueError("window size must be positive")
        return size


class ReferenceSpec(_Frozen):
    """What a closed window is compared with."""

    kind: str = "rolling"
    windows: int = Field(default=10, ge=1, description="how many previous windows make the reference")
    min_windows: int = Field(default=3, ge=1, description="fewer than this and drift is not graded")
    exclude_critical: bool = Field(
        default=True, description="leave out windows where the feature was critical"
    )

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind != "rolling":
            raise ValueError(f"reference kind {kind!r} is not available in this version; use 'rolling'")
        return kind

    @model_validator(mode="after")
    def _enough(self) -> ReferenceSpec:
        if self.min_windows > self.windows:
            raise ValueError(f"min_windows {self.min_windows} is above windows {self.windows}")
        return self


class MonitorSpec(_Frozen):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    source: SourceSpec
    window: WindowSpec
    reference: ReferenceSpec = ReferenceSpec()
    features: dict[str, FeatureSpec] = Field(min_length=1)
    prediction: dict[str, FeatureSpec] = {}
    checks: ChecksSpec = ChecksSpec()
    min_samples: int = Field(default=200, ge=0, description="thinner windows grade at most info")

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
            raise ValueError(f"{sorted(both)} named both as a feature and as a prediction")
        return self

    def max_event_age(self) -> int:
        """How far behind its partition's stream time an event may be before it is `too_old`, in ms."""
        if self.source.max_age is not None:
            return self.source.max_age
        return max(DEFAULT_MAX_AGE, self.window.size + self.window.grace)

    def all_features(self) -> dict[str, FeatureSpec]:
        """Features and prediction fields together: both are profiled and checked alike."""
        return {**self.features, **self.prediction}


class KafkaSpec(_Frozen):
    broker: str = "kafka://127.0.0.1:9092"
    session_timeout: Duration = 10_000
    heartbeat_interval: Duration = 1_000
    fetch_max_wait: Duration = Field(default=100, description="longest wait for a fetch to fill (Faust: 1.5 s)")


class RedisSpec(_Frozen):
    url: str = "redis://127.0.0.1:6379/0"


class AlertsSpec(_Frozen):
    topic: str = "stream-guard.alerts"
    dead_letter_topic: str = "stream-guard.dead-letters"


class StateSpec(_Frozen):
    flush_interval: Duration = 1_000
    retention: Duration = 7 * 86_400_000


class WebSpec(_Frozen):
    host: str = "127.0.0.1"
    port: int = Field(default=6066, ge=0, le=65535)


class Topology(_Frozen):
    version: Literal[1]
    app: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    kafka: KafkaSpec = KafkaSpec()
    redis: RedisSpec = RedisSpec()
    alerts: AlertsSpec = AlertsSpec()
    state: StateSpec = StateSpec()
    web: WebSpec = WebSpec()
    monitors: list[MonitorSpec] = Field(min_length=1)

    @field_validator("monitors")
    @classmethod
    def _unique_monitors(cls, monitors: list[MonitorSpec]) -> list[MonitorSpec]:
        names = [m.name for m in monitors]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"monitor names must be unique; repeated: {', '.join(dupes)}")
        return monitors

    def monitor(self, name: str) -> MonitorSpec:
        for m in self.monitors:
            if m.name == name:
                return m
        raise KeyError(f"no monitor named {name!r}; the topology has {[m.name for m in self.monitors]}")
