"""Snapshot references: a named, immutable profile of a data set (the training set, say).

A snapshot is one `WindowProfile` over every row of its source, with no time window, plus where it
came from, how many rows it holds and when it was built. It serialises in its own versioned
envelope so a stored snapshot always says what it is. A snapshot of two or more numeric features
also holds a PCA of them (`core.profiles.multivariate`), in an optional header key that readers
before it ignore; snapshots stored without one are read as before, and the multivariate check is off
for them.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import orjson

from stream_guard.core.decoding.columns import FieldReader
from stream_guard.core.decoding.schema import build_column
from stream_guard.core.labels.reference_labels import ReferenceLabels
from stream_guard.core.labels.scores import PerformanceState
from stream_guard.core.profiles.multivariate import (
    ERROR_SPEC,
    RECONSTRUCTION,
    ReconstructionModel,
    RowSample,
    error_column,
    model_features,
    numeric_matrix,
)
from stream_guard.core.profiles.profile import NumericProfile, ProfileFormatError, WindowProfile
from stream_guard.core.topology.monitor import MonitorSpec

MAGIC = b"SGSN"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Snapshot:
    name: str
    source: str          # where the rows came from, e.g. the file name
    rows: int
    created_at: int      # epoch ms
    profile: WindowProfile
    multivariate: ReconstructionModel | None = None   # the PCA of its numeric features, when it has two
    labels: PerformanceState | None = None   # the rows' labelled scores, when the rows carried labels

    def describe(self) -> dict[str, Any]:
        """What `reference list` and `reference show` print."""
        return {"name": self.name, "source": self.source, "rows": self.rows, "created_at": self.created_at,
                "features": sorted(self.profile.features),
                "labelled": self.labels.labelled if self.labels is not None else 0}

    def to_bytes(self) -> bytes:
        labels = {"labels": self.labels.to_json()} if self.labels is not None else {}
        header = orjson.dumps({"name": self.name, "source": self.source, "rows": self.rows,
                               "created_at": self.created_at, **labels,
                               **({"multivariate": self.multivariate.to_json()} if self.multivariate else {})})
        return MAGIC + struct.pack(">HI", FORMAT_VERSION, len(header)) + header + self.profile.to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Snapshot:
        if data[:4] != MAGIC:
            raise ProfileFormatError("not a stream_guard snapshot (bad magic)")
        version, length = struct.unpack(">HI", data[4:10])
        if version != FORMAT_VERSION:
            raise ProfileFormatError(f"snapshot format v{version}; this version reads v{FORMAT_VERSION}")
        header = orjson.loads(data[10:10 + length])
        profile = WindowProfile.from_bytes(data[10 + length:])
        model = ReconstructionModel.from_json(header["multivariate"]) if "multivariate" in header else None
        labels = PerformanceState.from_json(header["labels"]) if "labels" in header else None
        return cls(header["name"], header["source"], header["rows"], header["created_at"], profile, model, labels)


class SnapshotBuilder:
    """Folds rows (decoded events, no timestamp needed) into one profile of every monitored feature."""

    def __init__(self, monitor: MonitorSpec) -> None:
        self.monitor = monitor
        self.profile = WindowProfile.empty(monitor, 0)
        self.profile.end = 0
        self.rows = 0
        self._paths = [(name, spec, tuple((spec.field or name).split(".")))
                       for name, spec in monitor.all_features().items()]
        self._rules = monitor.parsed_rules()
        self._numeric = model_features(monitor)
        self._sample = RowSample(len(self._numeric)) if len(self._numeric) >= 2 else None
        self.labels = ReferenceLabels.for_monitor(monitor)

    def add(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        reader = FieldReader(rows)
        columns = {name: build_column(spec, reader.values(path), self._rules.get(name, ()))
                   for name, spec, path in self._paths}
        self.profile.fold(columns, np.arange(len(rows)), self.monitor)
        self.rows += len(rows)
        if self._sample is not None:
            self._sample.add(numeric_matrix(columns, self._numeric))
        if self.labels is not None:
            self.labels.add(rows)

    def build(self, name: str, source: str, created_at: int) -> Snapshot:
        """The snapshot; with two numeric features or more, their PCA and its errors on the rows fitted; with
        labelled rows, their scores per class."""
        labelled = self.labels.state if self.labels is not None and self.labels.state.labelled else None
        sample = self._sample.rows if self._sample is not None else np.empty((0, 0))
        model = ReconstructionModel.fit(self._numeric, sample, self.monitor.checks.multivariate.variance)
        if model is None:
            return Snapshot(name, source, self.rows, created_at, self.profile, labels=labelled)
        errors = NumericProfile()
        errors.fold(error_column(model.errors(sample)), np.arange(len(sample)), ERROR_SPEC)
        profile = replace(self.profile, features={**self.profile.features, RECONSTRUCTION: errors})
        return Snapshot(name, source, self.rows, created_at, profile, model, labelled)


def build_snapshot(monitor: MonitorSpec, batches: Iterable[list[dict[str, Any]]], name: str, source: str,
                   created_at: int) -> Snapshot:
    builder = SnapshotBuilder(monitor)
    for rows in batches:
        builder.add(rows)
    return builder.build(name, source, created_at)
