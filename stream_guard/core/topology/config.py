"""The topology: what a user declares in YAML, as frozen pydantic models.

Loading the YAML text (with file and line numbers for errors) lives in `topology_file`; this module
only says what a valid topology is. Durations are integer milliseconds once loaded.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from stream_guard.core.topology.durations import format_duration, parse_duration
from stream_guard.core.topology.redaction import redacted
from stream_guard.core.topology.timestamps import parse_event_time

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


class _MetricLadder(SeverityLadder):
    """A ladder whose default thresholds depend on the chosen `metric` (see docs/checks.md)."""

    DEFAULTS: ClassVar[dict[str, tuple[float, float]]] = {}
    metric: str

    @model_validator(mode="before")
    @classmethod
    def _metric_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        metric = data.get("metric", cls.model_fields["metric"].default)
        warning, critical = cls.DEFAULTS.get(metric, (None, None))
        return {"warning": warning, "critical": critical, **data}


class NumericDriftCheck(_MetricLadder):
    """Distribution drift of a numeric feature against its reference."""

    DEFAULTS: ClassVar[dict[str, tuple[float, float]]] = {
        "psi": (0.1, 0.2), "ks": (0.1, 0.2), "jensen_shannon": (0.1, 0.2),
        "wasserstein": (0.15, 0.3), "hellinger": (0.1, 0.2)}
    metric: Literal["psi", "ks", "jensen_shannon", "wasserstein", "hellinger"] = "psi"
    bins: int = Field(default=10, ge=2, le=100)
    warning: float | None = 0.1
    critical: float | None = 0.2


class CategoricalDriftCheck(_MetricLadder):
    """Distribution drift of a categorical feature against its reference."""

    DEFAULTS: ClassVar[dict[str, tuple[float, float]]] = {
        "jensen_shannon": (0.1, 0.2), "psi": (0.1, 0.2), "linf": (0.1, 0.2),
        "chi_square": (0.1, 0.2), "hellinger": (0.1, 0.2)}
    metric: Literal["jensen_shannon", "psi", "linf", "chi_square", "hellinger"] = "jensen_shannon"
    warning: float | None = 0.1
    critical: float | None = 0.2


class MissingRateCheck(SeverityLadder):
    """Rise of the share of events where the field is absent or null against the reference.

    `absolute`: now − before (0.02 → 0.07 is 0.05); `relative`: (now − before) / max(before, 0.01).
    """

    metric: Literal["absolute", "relative"] = "absolute"
    warning: float | None = 0.05
    critical: float | None = 0.2


class InvalidRateCheck(SeverityLadder):
    """Rise of the share of events whose value has the wrong type or lies outside min / max."""

    warning: float | None = 0.01
    critical: float | None = 0.05


class MeanShiftCheck(SeverityLadder):
    """|mean now − mean before| in reference standard deviations (exact, from the counters)."""

    warning: float | None = 0.2
    critical: float | None = 0.4


class StdShiftCheck(SeverityLadder):
    """|sd now − sd before| / sd before."""

    enabled: bool = False
    warning: float | None = 0.25
    critical: float | None = 0.5


class UnseenShareCheck(SeverityLadder):
    """Share of the window's values that the reference never saw (a new category taking traffic)."""

    enabled: bool = False
    warning: float | None = 0.02
    critical: float | None = 0.1


class CardinalityCheck(SeverityLadder):
    """Distinct values now against distinct values per reference window, as a fold change (≥ 1)."""

    enabled: bool = False
    warning: float | None = 2.0
    critical: float | None = 4.0


class VolumeCheck(SeverityLadder):
    """Events in the window against events per reference window, as a fold change (≥ 1): 2 is halved or doubled."""

    warning: float | None = 1.5
    critical: float | None = 1.8


class SloCheck(SeverityLadder):
    """Share of the window's events that violate the feature's declared schema or rules (absolute)."""

    warning: float | None = 0.001
    critical: float | None = 0.01


class SchemaDriftCheck(SeverityLadder):
    """Fields the schema does not declare appearing in the declared objects, and declared fields
    vanishing from every event, counted against the reference: the value is the number of changes."""

    warning: float | None = 1
    critical: float | None = None


class FreshnessCheck(SeverityLadder):
    """Time since the worker last received a record of the source, on its stalest assigned partition.

    Thresholds are durations (`30s`, `2m`), measured on the worker's clock; replay has no clock and
    never evaluates it.
    """

    info: Duration | None = Field(default=None, gt=0)
    warning: Duration | None = Field(default=120_000, gt=0)
    critical: Duration | None = Field(default=600_000, gt=0)

    @field_validator("info", "warning", "critical", mode="before")
    @classmethod
    def _with_unit(cls, value: Any) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            raise ValueError(f"a duration needs its unit, such as 30s or 2m; a bare number would be "
                             f"milliseconds (got {value!r})")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> FreshnessCheck:   # replaces the ladder's check, to speak in durations
        rungs = [(name, getattr(self, name)) for name in SEVERITIES if getattr(self, name) is not None]
        for (low_name, low), (high_name, high) in zip(rungs, rungs[1:]):
            if low > high:
                raise ValueError(f"{low_name} {format_duration(low)} is above {high_name} "
                                 f"{format_duration(high)}; {low_name} must be the shorter one")
        return self


class FeatureChecks(_Frozen):
    """A feature's own check settings; each one given replaces the monitor's for that feature."""

    numeric_drift: NumericDriftCheck | None = None
    categorical_drift: CategoricalDriftCheck | None = None
    missing_rate: MissingRateCheck | None = None
    invalid_rate: InvalidRateCheck | None = None
    mean_shift: MeanShiftCheck | None = None
    std_shift: StdShiftCheck | None = None
    unseen_share: UnseenShareCheck | None = None
    cardinality: CardinalityCheck | None = None
    slo: SloCheck | None = None


class ChecksSpec(_Frozen):
    """Check settings; a check left out keeps its defaults (some are off until enabled)."""

    numeric_drift: NumericDriftCheck = NumericDriftCheck()
    categorical_drift: CategoricalDriftCheck = CategoricalDriftCheck()
    missing_rate: MissingRateCheck = MissingRateCheck()
    invalid_rate: InvalidRateCheck = InvalidRateCheck()
    mean_shift: MeanShiftCheck = MeanShiftCheck()
    std_shift: StdShiftCheck = StdShiftCheck()
    unseen_share: UnseenShareCheck = UnseenShareCheck()
    cardinality: CardinalityCheck = CardinalityCheck()
    slo: SloCheck = SloCheck()
    volume: VolumeCheck = VolumeCheck()
    schema_drift: SchemaDriftCheck = SchemaDriftCheck()
    freshness: FreshnessCheck = FreshnessCheck()


NUMERIC_CHECKS = ("numeric_drift", "mean_shift", "std_shift", "missing_rate", "invalid_rate", "slo")
CATEGORICAL_CHECKS = ("categorical_drift", "unseen_share", "cardinality", "missing_rate", "invalid_rate", "slo")


class MultipleTestingSpec(_Frozen):
    """Checks with a p-value grade above info only when significant after correcting for the
    number of features and checks tested in the same monitor window."""

    method: Literal["benjamini_hochberg", "bonferroni", "none"] = "benjamini_hochberg"
    alpha: float = Field(default=0.01, gt=0, lt=1, description="false discovery rate (or family-wise error)")


class FeatureSpec(_Frozen):
    """One monitored field of the event, and what its values must be (its schema)."""

    type: Literal["numeric", "integer", "timestamp", "categorical", "boolean", "string"]
    field: str | None = Field(default=None, description="dotted path into the event; defaults to the name")
    required: bool = Field(default=False, description="a record without a value violates the schema")
    nullable: bool = Field(default=True, description="false: a null (or absent) value violates the schema")
    min: float | None = None
    max: float | None = None
    allowed: list[str] | None = Field(default=None, min_length=1, description="the only values a record may have")
    pattern: str | None = Field(default=None, description="a regular expression every value must match in full")
    max_length: int | None = Field(default=None, ge=1)
    checks: FeatureChecks = FeatureChecks()
    importance: float = Field(
        default=1.0, gt=0, allow_inf_nan=False,
        description="check values are graded multiplied by this: above 1 raises severity, below 1 lowers it",
    )
    source: str | None = Field(
        default=None, min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$",
        description="the upstream this feature comes from; features of one source alert together",
    )

    @model_validator(mode="after")
    def _range(self) -> FeatureSpec:
        numeric = self.type in ("numeric", "integer", "timestamp")
        if not numeric and (self.min is not None or self.max is not None):
            raise ValueError(f"min and max apply to numeric features only, not {self.type}")
        if numeric and (self.allowed is not None or self.pattern is not None or self.max_length is not None):
            raise ValueError(f"allowed, pattern and max_length apply to categorical and string features, "
                             f"not {self.type}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {pattern!r} is not a regular expression: {exc}") from None
        return pattern


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
        return 2000 if self.format == "json" else 10


DEFAULT_MAX_AGE = 7 * 86_400_000


class WindowSpec(_Frozen):
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


class ReferenceSpec(_Frozen):
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


class AlertingSpec(_Frozen):
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


class MonitorSpec(_Frozen):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    source: SourceSpec
    window: WindowSpec
    reference: ReferenceSpec = ReferenceSpec()
    features: dict[str, FeatureSpec] = {}
    uses: list[str] = Field(default=[], description="shared features (the topology's `features:`) it watches too")
    segment_by: list[str] = Field(default=[], max_length=3,
                                  description="dotted fields whose values split the monitor into segments")
    max_segments: int = Field(default=20, ge=1, le=1000,
                              description="segments profiled on their own per window; the rest pool as `other`")
    prediction: dict[str, FeatureSpec] = {}
    checks: ChecksSpec = ChecksSpec()
    min_samples: int = Field(default=200, ge=0, description="thinner windows grade at most info")
    multiple_testing: MultipleTestingSpec = MultipleTestingSpec()
    rules: list[str] = Field(default=[], description="per-record rules such as `age >= 0`, graded by the slo check")
    alerting: AlertingSpec = AlertingSpec()

    # set by the topology for shared features: every monitor using each one (its downstream), and
    # the shared features whose alerts another monitor reading the same source publishes
    _fan_out: dict[str, list[str]] = PrivateAttr(default_factory=dict)
    _quiet: frozenset[str] = PrivateAttr(default_factory=frozenset)

    @model_validator(mode="after")
    def _rules_parse(self) -> MonitorSpec:
        if not self.features and not self.uses:
            raise ValueError("a monitor needs at least one feature, of its own (features:) or shared (uses:)")
        from stream_guard.core.decoding.schema import parse_rule
        for rule in self.rules:
            if rule.split()[0].strip() not in self.uses:   # rules on shared features are checked by the topology
                parse_rule(rule, self)
        return self

    @property
    def fan_out(self) -> dict[str, list[str]]:
        return self._fan_out

    @property
    def quiet(self) -> frozenset[str]:
        return self._quiet

    @model_validator(mode="after")
    def _seasonal_period(self) -> MonitorSpec:
        period = self.reference.period
        if period is not None and period % self.window.step:
            raise ValueError(f"reference period {format_duration(period)} is not a multiple of the window size "
                             f"{format_duration(self.window.size)}")
        return self

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

    def parsed_rules(self) -> dict[str, list[Any]]:
        """The rules by feature name (core.schema.Rule objects)."""
        from stream_guard.core.decoding.schema import parse_rule
        out: dict[str, list[Any]] = {}
        for rule in self.rules:
            parsed = parse_rule(rule, self)
            out.setdefault(parsed.feature, []).append(parsed)
        return out

    def all_features(self) -> dict[str, FeatureSpec]:
        """Features and prediction fields together: both are profiled and checked alike."""
        return {**self.features, **self.prediction}

    def sources(self) -> dict[str, str]:
        """Feature name -> the upstream source it is declared to come from, for features that declare one."""
        return {name: spec.source for name, spec in self.all_features().items() if spec.source is not None}


class _RedactedURL(_Frozen):
    """Shows its URL field (`broker` or `url`) with any password replaced by `***`, in repr and in dumps."""

    _URL_FIELD: ClassVar[str]

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, redacted(value) if name == self._URL_FIELD and isinstance(value, str) else value


class PasswordSource(_Frozen):
    """Where a password is read from when the process starts: an environment variable or a file.

    A topology is a file people commit and share, so a password is never written in it: a `password:`
    key is refused with a message saying where to put it instead.
    """

    password_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    password_file: str | None = Field(default=None, min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _no_inline_password(cls, data: Any) -> Any:
        if isinstance(data, dict) and "password" in data:
            raise ValueError("a password is never written in the topology: name an environment variable "
                             "(password_env: NAME) or a file (password_file: PATH) that holds it")
        return data

    @model_validator(mode="after")
    def _one_source(self) -> PasswordSource:
        if self.password_env is not None and self.password_file is not None:
            raise ValueError("give password_env or password_file, not both")
        return self

    @property
    def has_password(self) -> bool:
        return self.password_env is not None or self.password_file is not None


class KafkaTLS(_Frozen):
    """TLS to the brokers. Every key is optional: `tls: {}` trusts the system's certificate authorities."""

    ca_file: str | None = Field(default=None, description="PEM file of the CAs that sign the brokers' certificates")
    cert_file: str | None = Field(default=None, description="client certificate (PEM), for mutual TLS")
    key_file: str | None = Field(default=None, description="the client certificate's private key (PEM)")
    check_hostname: bool = True

    @model_validator(mode="after")
    def _pair(self) -> KafkaTLS:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (a client certificate and its key)")
        return self


class KafkaSASL(PasswordSource):
    """SASL authentication to the brokers (over TLS when `kafka.tls` is set too)."""

    mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    username: str = Field(min_length=1)

    @model_validator(mode="after")
    def _needs_password(self) -> KafkaSASL:
        if not self.has_password:
            raise ValueError("SASL needs a password: password_env: NAME or password_file: PATH")
        return self


class KafkaSpec(_RedactedURL):
    _URL_FIELD: ClassVar[str] = "broker"
    broker: str = "kafka://127.0.0.1:9092"
    session_timeout: Duration = 10_000
    heartbeat_interval: Duration = 1_000
    fetch_max_wait: Duration = Field(default=100, description="longest wait for a fetch to fill (Faust: 1.5 s)")
    tls: KafkaTLS | None = None
    sasl: KafkaSASL | None = None

    @field_validator("tls", mode="before")
    @classmethod
    def _tls_flag(cls, value: Any) -> Any:
        """`tls: true` is `tls: {}`; `tls: false` is no TLS."""
        if isinstance(value, bool):
            return {} if value else None
        return value

    @field_serializer("broker")
    def _dump_broker(self, broker: str) -> str:
        return redacted(broker)

    @property
    def security_protocol(self) -> str:
        """Kafka's name for the transport: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."""
        if self.sasl is not None:
            return "SASL_SSL" if self.tls is not None else "SASL_PLAINTEXT"
        return "SSL" if self.tls is not None else "PLAINTEXT"


class RedisSpec(PasswordSource, _RedactedURL):
    """Redis: `rediss://` URLs use TLS; a password may be in the URL, or read from password_env / password_file."""

    _URL_FIELD: ClassVar[str] = "url"
    url: str = "redis://127.0.0.1:6379/0"
    ca_file: str | None = Field(default=None, description="PEM file of the CAs that sign the server's certificate")
    cluster: bool = Field(default=False, description="the URL names a node of a Redis Cluster (keys of one "
                                                     "partition, and of one monitor, share a hash slot)")

    @field_serializer("url")
    def _dump_url(self, url: str) -> str:
        return redacted(url)


class AlertsSpec(_Frozen):
    topic: str = "stream-guard.alerts"
    dead_letter_topic: str = "stream-guard.dead-letters"


class StateSpec(_Frozen):
    flush_interval: Duration = 1_000
    retention: Duration = 7 * 86_400_000


class WebSpec(_Frozen):
    host: str = "127.0.0.1"
    port: int = Field(default=6066, ge=0, le=65535)
    url: str | None = Field(
        default=None, pattern=r"^https?://[^\s]+$",
        description="where people reach the status page, e.g. http://guard.internal:6066; "
                    "`stream-guard forward` links alerts to it (Alertmanager's generatorURL)")


class Topology(_Frozen):
    version: Literal[1]
    app: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    kafka: KafkaSpec = KafkaSpec()
    redis: RedisSpec = RedisSpec()
    alerts: AlertsSpec = AlertsSpec()
    state: StateSpec = StateSpec()
    web: WebSpec = WebSpec()
    features: dict[str, FeatureSpec] = Field(
        default={}, description="shared features, declared once and watched by every monitor that `uses` them")
    monitors: list[MonitorSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _shared_features(self) -> Topology:
        """Give each monitor the shared features it uses, and say who alerts on each (once per source)."""
        from stream_guard.core.decoding.schema import parse_rule
        monitors = []
        for monitor in self.monitors:
            unknown = [n for n in monitor.uses if n not in self.features]
            if unknown:
                raise ValueError(f"monitor {monitor.name} uses {', '.join(map(repr, unknown))}, which the "
                                 f"topology's features: do not declare ({', '.join(sorted(self.features)) or 'none'})")
            clash = sorted(set(monitor.uses) & set(monitor.all_features()))
            if clash:
                raise ValueError(f"monitor {monitor.name} declares {clash} itself and also uses the shared one")
            joined = monitor.model_copy(update={"features": {**{n: self.features[n] for n in monitor.uses},
                                                             **monitor.features}})
            for rule in joined.rules:
                parse_rule(rule, joined)
            monitors.append(joined)
        publisher: dict[tuple[str, str], str] = {}
        for monitor in monitors:
            for name in monitor.uses:
                publisher.setdefault((name, monitor.source.topic), monitor.name)
            monitor._fan_out = {n: [m.name for m in monitors if n in m.uses] for n in monitor.uses}
            monitor._quiet = frozenset(n for n in monitor.uses if publisher[(n, monitor.source.topic)] != monitor.name)
        object.__setattr__(self, "monitors", monitors)
        return self

    @model_validator(mode="after")
    def _idle_timeouts_outlast_flushes(self) -> Topology:
        """A silent partition counts as idle only when its owner has said it is alive within the idle
        timeout, after that much silence; a worker says so once per flush, so the timeout must span two."""
        flush = self.state.flush_interval
        errors = [InitErrorDetails(
            type=PydanticCustomError("value_error", "{idle} is shorter than twice state.flush_interval ({flush}): a "
                                     "silent partition counts as idle only when its worker, which says it is alive "
                                     "once per flush, has been heard from within it; raise source.idle_timeout to "
                                     "{least} or more, or lower state.flush_interval",
                                     {"idle": format_duration(m.source.idle_timeout), "flush": format_duration(flush),
                                      "least": format_duration(2 * flush)}),
            loc=("monitors", i, "source", "idle_timeout"), input=m.source.idle_timeout)
            for i, m in enumerate(self.monitors) if m.source.idle_timeout < 2 * flush]
        if errors:
            raise ValidationError.from_exception_data("Topology", errors)
        return self

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
