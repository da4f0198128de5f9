"""The topology: what a user declares in YAML, as frozen pydantic models.

Loading the YAML text (with file and line numbers for errors) lives in `core.topology.file`; this
module only says what a valid topology is: its services, shared features and monitors. Durations
are integer milliseconds once loaded.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from stream_guard.core.topology.durations import format_duration
from stream_guard.core.topology.features import FeatureSpec
from stream_guard.core.topology.frozen import Frozen
from stream_guard.core.topology.model_spec import estimation_problems, model_problems
from stream_guard.core.topology.monitor import MonitorSpec
from stream_guard.core.topology.reference_choice import reference_problems
from stream_guard.core.topology.rules import parse_rule
from stream_guard.core.topology.schema_registry import SchemaRegistrySpec, registry_url
from stream_guard.core.topology.services import AlertsSpec, AppName, KafkaSpec, RedisSpec, StateSpec, WebSpec
from stream_guard.core.topology.yaml_tree import AtKey


class Topology(Frozen):
    version: Literal[1]
    app: AppName
    kafka: KafkaSpec = KafkaSpec()
    redis: RedisSpec = RedisSpec()
    alerts: AlertsSpec = AlertsSpec()
    state: StateSpec = StateSpec()
    web: WebSpec = WebSpec()
    schema_registry: SchemaRegistrySpec | None = Field(
        default=None, description="where avro, protobuf and json_schema sources find their schemas")
    features: dict[str, FeatureSpec] = Field(
        default={}, description="shared features, declared once and watched by every monitor that `uses` them")
    monitors: list[MonitorSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _shared_features(self) -> Topology:
        """Give each monitor the shared features it uses, and say who alerts on each (once per source)."""
        monitors = []
        for index, monitor in enumerate(self.monitors):
            unknown = [n for n in monitor.uses if n not in self.features]
            if unknown:
                raise AtKey(("monitors", index, "uses"),
                            f"monitor {monitor.name} uses {', '.join(map(repr, unknown))}, which the topology's "
                            f"features: do not declare ({', '.join(sorted(self.features)) or 'none'})")
            clash = sorted(set(monitor.uses) & set(monitor.all_features()))
            if clash:
                raise AtKey(("monitors", index, "uses"),
                            f"monitor {monitor.name} declares {clash} itself and also uses the shared one")
            cap = monitor.max_window_bytes or self.state.max_window_bytes
            joined = monitor.model_copy(update={"features": {**{n: self.features[n] for n in monitor.uses},
                                                             **monitor.features}, "max_window_bytes": cap})
            for number, rule in enumerate(joined.rules):
                try:
                    parse_rule(rule, joined.all_features())
                except ValueError as exc:
                    raise AtKey(("monitors", index, "rules", number), str(exc)) from None
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

    @model_validator(mode="after")
    def _model_and_labels(self) -> Topology:
        """A monitor's model, labels and performance check fit together (errors point at the key)."""
        errors = [InitErrorDetails(type=PydanticCustomError("value_error", message), loc=("monitors", i, *where),
                                   input=None)
                  for i, m in enumerate(self.monitors)
                  for where, message in model_problems(m.model, m.labels, m.checks.performance,
                                                       {n: f.type for n, f in m.prediction.items()})
                  + estimation_problems(m.model, m.checks.estimated_performance)]
        if errors:
            raise ValidationError.from_exception_data("Topology", errors)
        return self

    @model_validator(mode="after")
    def _references(self) -> Topology:
        """Named references and the checks that choose among them fit together (errors point at the key)."""
        errors = [InitErrorDetails(type=PydanticCustomError("value_error", message), loc=("monitors", i, *where),
                                   input=None)
                  for i, m in enumerate(self.monitors) for where, message in reference_problems(m)]
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

    def with_schema_registry(self, url: str | None) -> Topology:
        """The topology with `--schema-registry URL` (else `SG_SCHEMA_REGISTRY`) over its registry URL."""
        spec = registry_url(url, self.schema_registry)
        return self if spec is self.schema_registry else self.model_copy(update={"schema_registry": spec})

    def monitor(self, name: str) -> MonitorSpec:
        for m in self.monitors:
            if m.name == name:
                return m
        raise KeyError(f"no monitor named {name!r}; the topology has {[m.name for m in self.monitors]}")

    def topics(self) -> dict[str, int]:
        """Every topic the topology reads or writes, with the partitions it is created with when missing:
        each monitor's source (`source.partitions`) and label topic (`labels.partitions`), the alert and
        dead-letter topics (one each)."""
        topics = {m.source.topic: m.source.partitions for m in self.monitors}
        topics.update({m.labels.topic: m.labels.partitions for m in self.monitors if m.labels is not None})
        topics.update({self.alerts.topic: 1, self.alerts.dead_letter_topic: 1})
        return topics
