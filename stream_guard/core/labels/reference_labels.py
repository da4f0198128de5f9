"""The labels a reference file's rows carry beside the model's score, folded while a snapshot is built,
so the snapshot holds what `estimated_performance` calibrates with (and the realized metrics on it).

The label is read at `checks.estimated_performance.label`, else at `labels.field`; the score at the
model's prediction field. A row without a usable score or label is left out of the fit and counted.

>>> from stream_guard.core.topology.monitor import MonitorSpec
>>> monitor = MonitorSpec.model_validate({"name": "m", "source": {"topic": "t", "timestamp": "ts"},
...     "window": {"size": "1m"}, "features": {"x": {"type": "numeric"}}, "prediction": {"score": {"type": "numeric"}},
...     "model": {"task": "binary"}, "checks": {"estimated_performance": {"label": "y"}}})
>>> folded = ReferenceLabels.for_monitor(monitor)
>>> folded.add([{"score": 0.9, "y": 1}, {"score": 0.2, "y": "false"}, {"score": 0.7}])
>>> folded.state.labelled, folded.unlabelled, folded.state.metric("accuracy")
(2, 1, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stream_guard.core.labels.reading import EventReader
from stream_guard.core.labels.scores import PerformanceState
from stream_guard.core.topology.model_spec import prediction_name
from stream_guard.core.topology.monitor import MonitorSpec


def label_path(monitor: MonitorSpec) -> str | None:
    """Where a reference row carries its label, if the monitor says."""
    given = monitor.checks.estimated_performance.label
    return given or (monitor.labels.field if monitor.labels is not None else None)


@dataclass
class ReferenceLabels:
    score_path: str
    label_path: str
    threshold: float
    state: PerformanceState = field(default_factory=PerformanceState)
    unlabelled: int = 0       # rows with no usable score or label

    @classmethod
    def for_monitor(cls, monitor: MonitorSpec) -> ReferenceLabels | None:
        """The folder of a binary model's labelled scores; None when there is no binary model or no label path."""
        path, model = label_path(monitor), monitor.model
        if path is None or model is None or model.task != "binary":
            return None
        name = prediction_name(model, {n: f.type for n, f in monitor.prediction.items()})
        if name is None:
            return None
        return cls(monitor.prediction[name].field or name, path, model.threshold)

    def add(self, rows: list[dict[str, Any]]) -> None:
        scores = EventReader("", self.score_path, "", "binary", is_label=False)
        labels = EventReader("", self.label_path, "", "binary")
        for row in rows:
            score, label = scores.value_at(row), labels.value_at(row)
            if score is None or label is None:
                self.unlabelled += 1
                continue
            self.state.predicted += 1
            self.state.add_binary(float(score), int(label), self.threshold)
