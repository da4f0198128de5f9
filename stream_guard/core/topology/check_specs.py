"""What a topology says about each check: its severity ladder (thresholds), metric and switches.

How the checks compute their values lives in `core.judging.checks`; these are only their settings.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from stream_guard.core.topology.durations import Duration, format_duration
from stream_guard.core.topology.frozen import Frozen

SEVERITIES = ("info", "warning", "critical")
_THRESHOLD = "a threshold is a finite number of 0 or more, such as 0.2"


class SeverityLadder(Frozen):
    """Thresholds on a check's value; reaching one grades the window at that severity (higher is worse)."""

    info: float | None = None
    warning: float | None = None
    critical: float | None = None
    enabled: bool = True

    @field_validator("info", "warning", "critical", mode="before")
    @classmethod
    def _not_a_boolean(cls, value: Any) -> Any:
        if isinstance(value, bool):   # pydantic would read yes / true as 1.0
            raise ValueError(f"{_THRESHOLD} (got {value!r}; yes, no, true and false are no thresholds)")
        return value

    @field_validator("info", "warning", "critical")
    @classmethod
    def _finite_and_not_negative(cls, value: float | None) -> float | None:
        # a check's value is a distance, share or fold change: below 0 a rung fires on every window, NaN never
        if value is not None and not 0 <= value < math.inf:
            raise ValueError(f"{_THRESHOLD} (got {value!r})")
        return value

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


class NewCategoryCheck(SeverityLadder):
    """Share of the window taken by values the reference never held (the largest one alone when the
    reference's value set is open); the alert names them."""

    warning: float | None = 0.01
    critical: float | None = 0.04


class OutsideReferenceCheck(SeverityLadder):
    """Share of a numeric feature's values outside what its reference held: range (with a margin),
    sign and integrality, each where the feature declares none."""

    warning: float | None = 0.01
    critical: float | None = 0.05


class SlowDriftCheck(SeverityLadder):
    """Under a rolling reference: how far that reference's mean has moved from an anchored one (the
    windows before the newest 2 × `windows`), in the anchor's standard deviations."""

    warning: float | None = 0.2
    critical: float | None = 0.35


class CardinalityCheck(SeverityLadder):
    """Distinct values now against distinct values per reference window, as a fold change (≥ 1)."""

    enabled: bool = False
    warning: float | None = 2.0
    critical: float | None = 4.0


class VolumeCheck(SeverityLadder):
    """Events in the window against events per reference window, as a fold change (≥ 1): 2 is halved or doubled."""

    warning: float | None = 1.5
    critical: float | None = 1.8


class MultivariateCheck(SeverityLadder):
    """Relative change of the window's mean PCA reconstruction error against the snapshot's, either way
    (0.2: a fifth higher or lower). Runs under a snapshot reference holding a PCA, which `reference build`
    fits when the monitor has two numeric features or more; `enabled: false` turns it off."""

    variance: float = Field(default=0.8, gt=0, lt=1, description="share of the snapshot's standardised variance "
                            "the kept components explain; read when the snapshot is built")
    warning: float | None = 0.1
    critical: float | None = 0.2


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


class PerformanceCheck(SeverityLadder):
    """Realized performance of the model against its labels, as a drop against the reference (in the
    metric's units, so 0.05 is five points of accuracy); for log_loss, mae and rmse a rise is the drop.
    Runs when the monitor declares `labels:`; `metric` defaults to accuracy (mae for regression)."""

    DEFAULTS: ClassVar[dict[str, tuple[float | None, float | None]]] = {
        "log_loss": (0.1, 0.25), "mae": (None, None), "rmse": (None, None)}
    metric: Literal["accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "mae", "rmse"] | None = None
    baseline: float | None = Field(
        default=None, description="the metric's expected value (e.g. from validation): the drop is measured "
                                  "against it instead of the reference windows")
    warning: float | None = 0.05
    critical: float | None = 0.1

    @model_validator(mode="before")
    @classmethod
    def _metric_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("metric") not in cls.DEFAULTS:
            return data
        warning, critical = cls.DEFAULTS[data["metric"]]
        return {"warning": warning, "critical": critical, **data}


class EstimatedPerformanceCheck(_MetricLadder):
    """Performance of a binary model estimated from its scores alone, as a drop against the reference's
    estimate (in the metric's units); the calibration comes from a labelled snapshot reference, else the
    scores are taken as calibrated. Runs when the monitor's checks name it (see docs/checks.md); the
    defaults keep 1,000-score windows quiet (recall and precision move more from window to window)."""

    DEFAULTS: ClassVar[dict[str, tuple[float, float]]] = {
        "accuracy": (0.03, 0.08), "roc_auc": (0.03, 0.08), "precision": (0.04, 0.08), "f1": (0.04, 0.08),
        "recall": (0.05, 0.1)}
    metric: Literal["accuracy", "precision", "recall", "f1", "roc_auc"] = "accuracy"
    label: str | None = Field(default=None, min_length=1,
                              description="the label's path in a reference file's rows; default labels.field")
    warning: float | None = 0.03
    critical: float | None = 0.08


class FeatureChecks(Frozen):
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
    new_category: NewCategoryCheck | None = None
    outside_reference: OutsideReferenceCheck | None = None
    slow_drift: SlowDriftCheck | None = None


class ChecksSpec(Frozen):
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
    new_category: NewCategoryCheck = NewCategoryCheck()
    outside_reference: OutsideReferenceCheck = OutsideReferenceCheck()
    slow_drift: SlowDriftCheck = SlowDriftCheck()
    volume: VolumeCheck = VolumeCheck()
    schema_drift: SchemaDriftCheck = SchemaDriftCheck()
    freshness: FreshnessCheck = FreshnessCheck()
    performance: PerformanceCheck = PerformanceCheck()
    multivariate: MultivariateCheck = MultivariateCheck()
    estimated_performance: EstimatedPerformanceCheck = EstimatedPerformanceCheck(enabled=False)


NUMERIC_CHECKS = ("numeric_drift", "mean_shift", "std_shift", "missing_rate", "invalid_rate", "slo",
                  "outside_reference", "slow_drift")
CATEGORICAL_CHECKS = ("categorical_drift", "unseen_share", "cardinality", "missing_rate", "invalid_rate", "slo",
                      "new_category")


class MultipleTestingSpec(Frozen):
    """Checks with a p-value grade above info only when significant after correcting for the
    number of features and checks tested in the same monitor window."""

    method: Literal["benjamini_hochberg", "bonferroni", "none"] = "benjamini_hochberg"
    alpha: float = Field(default=0.01, gt=0, lt=1, description="false discovery rate (or family-wise error)")
