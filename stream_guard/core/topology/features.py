"""A monitored feature as the topology declares it: its type, where it is in the event, and its schema."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from stream_guard.core.topology.check_specs import FeatureChecks
from stream_guard.core.topology.frozen import Frozen

NUMERIC_KINDS = ("numeric", "integer", "timestamp")


class FeatureSpec(Frozen):
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


def kind(spec: FeatureSpec) -> str:
    """How the feature is profiled: `numeric` (KLL + counters) or `categorical` (frequent items)."""
    return "numeric" if spec.type in NUMERIC_KINDS else "categorical"
