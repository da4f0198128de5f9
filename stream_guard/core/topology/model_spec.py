"""What a monitor says about its model and its labels: the task, the decision threshold, and where
the true outcomes come from (`labels:`), so that realized performance can be judged per window.

>>> LabelsSpec(topic="fraud.labels", id="request_id", field="label", timestamp="ts", max_delay="7d").max_delay
604800000
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from stream_guard.core.topology.check_specs import EstimatedPerformanceCheck, PerformanceCheck
from stream_guard.core.topology.durations import Duration
from stream_guard.core.topology.frozen import Frozen

TASK_METRICS = {
    "binary": ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"),
    "multiclass": ("accuracy", "f1"),
    "regression": ("mae", "rmse"),
}
DEFAULT_METRIC = {"binary": "accuracy", "multiclass": "accuracy", "regression": "mae"}
PREDICTION_KINDS = {"binary": ("numeric",), "multiclass": ("categorical", "string", "integer", "boolean"),
                    "regression": ("numeric", "integer")}


class ModelSpec(Frozen):
    """The model whose predictions the monitor's source carries."""

    task: Literal["binary", "multiclass", "regression"]
    threshold: float = Field(default=0.5, ge=0, le=1, description="binary: a score at or above it predicts 1")
    prediction: str | None = Field(
        default=None, min_length=1,
        description="the prediction field judged against the labels; default: the monitor's only prediction field")


class LabelsSpec(Frozen):
    """Where a monitor's labels come from, and how long a prediction waits for its label."""

    topic: str = Field(min_length=1)
    id: str = Field(min_length=1, description="dotted path of the join key, in prediction and label events alike")
    field: str = Field(min_length=1, description="dotted path of the label in the label events")
    timestamp: str = Field(min_length=1, description="dotted path of the label event's time")
    max_delay: Duration = Field(gt=0, description="a prediction unlabelled this long after its window is dropped")
    max_pending: int = Field(
        default=1_000_000, ge=1,
        description="predictions and labels waiting to be joined at most; more are counted as overflow and dropped")
    sample: float = Field(
        default=1.0, gt=0, le=1, description="share of ids joined, chosen by a hash of the id (1: all)")
    partitions: int = Field(default=1, ge=1, description="used when stream_guard creates the label topic")


Problem = tuple[tuple[str, ...], str]   # (location under the monitor, message)


def model_problems(model: ModelSpec | None, labels: LabelsSpec | None, check: PerformanceCheck,
                   prediction_kinds: dict[str, str]) -> list[Problem]:
    """What does not fit together in a monitor's `model`, `labels` and `checks.performance`."""
    problems: list[Problem] = []
    if labels is None and check.enabled and check.model_fields_set - {"enabled"}:
        problems.append((("checks", "performance"), "these settings are never used: the performance check runs "
                         "only on a monitor that declares labels: (and model:) to judge its predictions against; "
                         "add them (see docs/checks.md), or remove checks.performance"))
    if model is None:
        return problems + ([(("labels",), "labels need a model: add model: {task: binary} (or multiclass, "
                                          "regression)")] if labels is not None else [])
    metric = check.metric
    if metric is not None and metric not in TASK_METRICS[model.task]:
        problems.append((("checks", "performance", "metric"), f"{metric} does not apply to a {model.task} model; "
                         f"use one of {', '.join(TASK_METRICS[model.task])}"))
    if model.task == "regression" and labels is not None and (metric is None or check.threshold_for("ok") is None):
        problems.append((("checks", "performance"), "a regression model's performance has no default thresholds: "
                         "give metric (mae or rmse), warning and critical in the target's units"))
    name = prediction_name(model, prediction_kinds)
    if name is None:
        problems.append((("model",), _which_prediction(model, prediction_kinds)))
    elif prediction_kinds[name] not in PREDICTION_KINDS[model.task]:
        problems.append((("model",), f"a {model.task} model's prediction {name!r} must be of type "
                         f"{' or '.join(PREDICTION_KINDS[model.task])}, not {prediction_kinds[name]}"))
    return problems


def estimation_problems(model: ModelSpec | None, check: EstimatedPerformanceCheck) -> list[Problem]:
    """What keeps `checks.estimated_performance` from running on a monitor."""
    if not check.enabled or (model is not None and model.task == "binary"):
        return []
    said = "has no model" if model is None else f"has a {model.task} model"
    return [(("checks", "estimated_performance"), f"estimated performance is for binary classifiers and this "
             f"monitor {said}: add model: {{task: binary, threshold: 0.5}} or remove the check")]


def prediction_name(model: ModelSpec, prediction_kinds: dict[str, str]) -> str | None:
    """The prediction field judged against the labels (None when the monitor does not say which)."""
    if model.prediction is not None:
        return model.prediction if model.prediction in prediction_kinds else None
    return next(iter(prediction_kinds)) if len(prediction_kinds) == 1 else None


def _which_prediction(model: ModelSpec, kinds: dict[str, str]) -> str:
    if model.prediction is not None:
        return (f"model.prediction {model.prediction!r} is not among the monitor's prediction fields "
                f"({', '.join(kinds) or 'none'})")
    if not kinds:
        return "a model needs its prediction: declare it under prediction: (e.g. score: {type: numeric})"
    return f"the monitor has several prediction fields ({', '.join(kinds)}): name one as model.prediction"
