"""Raw records in, columns out: one decode per batch, bad records become dead letters with a reason.

A record is `RawRecord(value, partition, offset)`; decoding a batch gives the event times, one column
per feature, and the dead letters. The declared fields are read `CHUNK_EVENTS` events at a time, as
soon as those are parsed (see `columns.ChunkedFields`). Per-value problems (a string where a number
belongs) are counted in the feature's profile, not dead-lettered: the rest of the event is still good.

Record-level reason codes given here: `oversized`, `empty`, `not_utf8`, `invalid_json`, `too_deep`,
`not_an_object`, `not_an_array`, `missing_timestamp`, `invalid_timestamp`. (`late`, `too_old` and
`future` need the partition's watermark and are given by `folding`.) The common path pays for none
of them: sizes are checked with one C-level pass over the batch, and a payload that fails to parse
is looked at again only then, to say why.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Sequence
from itertools import repeat
from operator import attrgetter
from typing import Any

import numpy as np
import orjson

from stream_guard.core.decoding.columns import (
    ChunkedFields,
    FeatureColumn,
    categorical_column,
    number_columns,
    numeric_columns,
)
from stream_guard.core.decoding.event_times import event_times
from stream_guard.core.decoding.json_problems import EMPTY_MESSAGE, JsonError, json_kind, json_problem, loads_or_error
from stream_guard.core.decoding.records import DeadLetter, DecodedBatch, RawRecord
from stream_guard.core.decoding.registry import RegistryReading
from stream_guard.core.decoding.schema import build_column, constrained, plain_numeric
from stream_guard.core.decoding.typed import LABEL, NUMBER, VALUE, TypedEvents, indexes
from stream_guard.core.decoding.writer_schemas import WriterSchemas
from stream_guard.core.topology.features import kind
from stream_guard.core.topology.monitor import MonitorSpec
from stream_guard.core.topology.schema_registry import REGISTRY_FORMATS

CHUNK_EVENTS = 1000      # events parsed before their fields are read (see ChunkedFields)
TYPED_CHUNK = 500        # events decoded by the typed path before their fields are read (see core.typed)
_value_of = attrgetter("value")


class BatchDecoder:
    """Decodes batches for one monitor: parse every payload, then build each column in one pass."""

    def __init__(self, monitor: MonitorSpec, schemas: WriterSchemas | None = None) -> None:
        """`schemas`: the writers' schemas of a registry-format source (Avro, Protobuf, JSON Schema)."""
        self.monitor = monitor
        self._format = monitor.source.format
        self._max_bytes = monitor.source.max_message_bytes
        self._time_path = tuple(monitor.source.timestamp.split("."))
        self._features = [(name, spec, tuple((spec.field or name).split(".")))
                          for name, spec in monitor.all_features().items()]
        self._rules = monitor.parsed_rules()
        self._numeric = [name for name, spec, _ in self._features if plain_numeric(spec)]
        self._segment_paths = [(name, tuple(name.split("."))) for name in monitor.segment_by]
        self._paths = [self._time_path, *(path for _, _, path in self._features),
                       *(path for _, path in self._segment_paths)]
        # objects that hold declared fields (`features` in `features.amount`), and the keys declared in them
        self._containers: dict[tuple[str, ...], set[str]] = {}
        for _, _, path in self._features:
            for depth in range(1, len(path)):
                self._containers.setdefault(path[:depth], set()).add(path[depth])
        self._leaf_types = self._value_types()
        self._registry = None if self._format not in REGISTRY_FORMATS else RegistryReading(
            schemas or WriterSchemas(self._format, self._paths), [path for _, _, path in self._features])
        self._typed = self._typed_events() if self._registry is None else None

    def _value_types(self) -> dict[tuple[str, ...], Any]:
        """The type the typed path reads each path's value as (core.typed)."""
        types: dict[tuple[str, ...], set[Any]] = {}
        for name, spec, path in self._features:
            leaf = VALUE   # as JSON held it, where a value can break a declared rule
            if not constrained(spec, self._rules.get(name, ())):
                leaf = NUMBER if plain_numeric(spec) else LABEL if kind(spec) == "categorical" else VALUE
            types.setdefault(path, set()).add(leaf)
        for path in (self._time_path, *(path for _, path in self._segment_paths)):
            types.setdefault(path, set()).add(VALUE)
        return {path: leaf.pop() if len(leaf) == 1 else VALUE for path, leaf in types.items()}

    def _typed_events(self) -> TypedEvents | None:
        """The typed path for this monitor's fields, or None where they cannot be one Struct."""
        # an object holding declared features is strict (the general path reports its other keys as
        # undeclared fields), so the typed path is only for monitors that read nothing else from one
        others = (self._time_path, *(path for _, path in self._segment_paths))
        if any(path[depth] not in self._containers.get(path[:depth], {path[depth]})
               for path in others for depth in range(1, len(path))):
            return None
        try:
            return TypedEvents(self._paths, self._leaf_types, set(self._containers), self._format)
        except ValueError:
            return None

    def decode(self, records: Sequence[RawRecord]) -> DecodedBatch:
        # Parsing allocates a dict per event and the cyclic collector would scan them again and
        # again (measured: it halves orjson's rate); they hold no cycles, so pause it meanwhile.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._decode(records)
        finally:
            if collecting:
                gc.enable()

    def _decode(self, records: Sequence[RawRecord]) -> DecodedBatch:
        origins: list[tuple[RawRecord, int | None]] = []
        dead: list[DeadLetter] = []
        records = self._drop_oversized(records, dead)
        consumed = len(dead)
        fields, read = self._read_fields(records, origins, dead)
        consumed += read
        times, problems = event_times(fields.values[self._time_path])
        bad: list[int] = []
        if problems:
            bad = sorted(problems)
            dead.extend(self._dead(*origins[i], *problems[i]) for i in bad)
            fields.drop(bad)
            gone = set(bad)
            origins = [o for i, o in enumerate(origins) if i not in gone]
            times = np.delete(times, bad)
        if len(dead) > 1:
            dead.sort(key=_input_order)
        unknown = fields.unknown()
        if self._registry is not None:
            unknown.update(self._registry.absent(bad))
        return DecodedBatch(times, self._columns(fields), [r for r, _ in origins], dead,
                            [i for _, i in origins], consumed, unknown, self._segments(fields.values))

    def _read_fields(self, records: Sequence[RawRecord], origins: list[tuple[RawRecord, int | None]],
                     dead: list[DeadLetter]) -> tuple[ChunkedFields, int]:
        """Parse the records and read the declared fields of their events, `CHUNK_EVENTS` at a time;
        returns them with how many events the records count for."""
        numbers = {path for path, leaf in self._leaf_types.items() if leaf is NUMBER} if self._typed else set()
        fields = ChunkedFields(self._paths, self._containers, numbers)
        if self._registry is not None:
            return fields, self._registry.read(records, fields, origins, dead, self._dead)
        if self._typed is not None:
            return fields, self._read_typed(records, fields, origins, dead)
        events: list[dict[str, Any]] = []
        if self._format == "json":
            for start in range(0, len(records), CHUNK_EVENTS):
                self._parse_messages(records[start:start + CHUNK_EVENTS], events, origins, dead)
                fields.add(events)
                events = []
            return fields, len(records)
        consumed = 0
        for record in records:
            consumed += self._parse(record, events, origins, dead)
            if len(events) >= CHUNK_EVENTS:
                fields.add(events)
                events = []
        fields.add(events)
        return fields, consumed

    def _read_typed(self, records: Sequence[RawRecord], fields: ChunkedFields,
                    origins: list[tuple[RawRecord, int | None]], dead: list[DeadLetter]) -> int:
        """`_read_fields` where the typed path decodes each record it can; the others (and only they)
        take the general path. One event per message: `TYPED_CHUNK` records decoded in one call, and
        where all of them decoded (the usual chunk) no per-record step at all."""
        typed = self._typed
        assert typed is not None
        if self._format != "json":
            return self._interleave(typed, records, map(typed.decode, map(_value_of, records)), fields, origins, dead)
        for start in range(0, len(records), TYPED_CHUNK):
            chunk = records[start:start + TYPED_CHUNK]
            decoded = typed.decode_each(list(map(_value_of, chunk)))
            if None in decoded:
                self._interleave(typed, chunk, (None if e is None else ([e], False) for e in decoded),
                                 fields, origins, dead)
                continue
            fields.add_typed(typed.columns(decoded), len(decoded))
            origins.extend(zip(chunk, repeat(None)))
        return len(records)

    def _interleave(self, typed: TypedEvents, records: Sequence[RawRecord],
                    decoded: Iterable[tuple[list[Any], bool] | None], fields: ChunkedFields,
                    origins: list[tuple[RawRecord, int | None]], dead: list[DeadLetter]) -> int:
        """Records with what the typed path made of each (its events, and whether they carry an index;
        None where the general path takes the record). Runs of either kind reach `fields` in input
        order, a chunk at a time; returns how many events the records count for."""
        structs: list[Any] = []
        events: list[dict[str, Any]] = []
        consumed = 0
        for record, got in zip(records, decoded):
            if got is not None:
                if events:
                    fields.add(events)
                    events = []
                structs += got[0]
                origins.extend(zip(repeat(record), indexes(len(got[0]), got[1])))
                consumed += len(got[0])
                if len(structs) >= TYPED_CHUNK:
                    fields.add_typed(typed.columns(structs), len(structs))
                    structs = []
                continue
            if structs:
                fields.add_typed(typed.columns(structs), len(structs))
                structs = []
            consumed += self._parse(record, events, origins, dead)
            if len(events) >= CHUNK_EVENTS:
                fields.add(events)
                events = []
        fields.add_typed(typed.columns(structs), len(structs))
        fields.add(events)
        return consumed

    def _columns(self, fields: ChunkedFields) -> dict[str, FeatureColumn]:
        """Each feature's column; the numeric ones in one numpy call when all their values allow it.
        When every event came through the typed path, its typed columns need no type check."""
        by_name = {name: fields.values[path] for name, _, path in self._features}
        ready: dict[str, FeatureColumn] = {}
        if fields.typed and self._typed is not None:
            typed = {name: path for name, _, path in self._features if self._leaf_types.get(path) is NUMBER}
            if typed:
                ready.update(zip(typed, number_columns(np.vstack([fields.numbers(p) for p in typed.values()]))))
            ready.update((name, categorical_column(by_name[name], checked=True))
                         for name, _, path in self._features if self._leaf_types.get(path) is LABEL)
        rest = [name for name in self._numeric if name not in ready]
        built = numeric_columns([by_name[name] for name in rest]) if len(rest) > 1 else None
        ready.update(zip(rest, built or ()))
        return {name: build_column(spec, by_name[name], self._rules.get(name, ()), ready.get(name))
                for name, spec, _ in self._features}

    def _segments(self, values: dict[tuple[str, ...], list[Any]]) -> list[str] | None:
        """Each event's segment name: `field=value` for each `segment_by` field, joined by commas."""
        if not self._segment_paths:
            return None
        parts = [[f"{name}={'(missing)' if v is None else v}" for v in values[path]]
                 for name, path in self._segment_paths]
        return parts[0] if len(parts) == 1 else list(map(",".join, zip(*parts)))

    def _drop_oversized(self, records: Sequence[RawRecord], dead: list[DeadLetter]) -> Sequence[RawRecord]:
        """The records within `source.max_message_bytes`; longer ones are dead-lettered unparsed."""
        try:
            if max(map(len, map(_value_of, records)), default=0) <= self._max_bytes:
                return records   # the usual case, checked at C speed
        except TypeError:        # a tombstone (no value) is in the batch: look at each record
            pass
        kept = []
        for record in records:
            if record.value is not None and len(record.value) > self._max_bytes:
                dead.append(self._dead(record, None, "oversized", f"the message holds {len(record.value):,} "
                                       f"bytes, above source.max_message_bytes ({self._max_bytes:,})"))
            else:
                kept.append(record)
        return kept

    def _parse_messages(self, records: Sequence[RawRecord], events: list[dict[str, Any]],
                        origins: list[tuple[RawRecord, int | None]], dead: list[DeadLetter]) -> None:
        """The per-message hot loop: one event per record, as little Python as possible per event."""
        loads, add_event, add_origin = orjson.loads, events.append, origins.append
        for record in records:
            try:
                payload = loads(record.value)  # type: ignore[arg-type]
            except (orjson.JSONDecodeError, TypeError) as exc:  # TypeError: a tombstone, on older orjson
                dead.append(self._dead(record, None, *json_problem(record.value, exc)))
                continue
            if type(payload) is dict:
                add_event(payload)
                add_origin((record, None))
            else:
                dead.append(self._dead(record, None, "not_an_object",
                                       f"expected a JSON object, got {json_kind(payload)}"))

    def _parse(self, record: RawRecord, events: list[dict[str, Any]],
               origins: list[tuple[RawRecord, int | None]], dead: list[DeadLetter]) -> int:
        """Parse one batched message; returns how many events it counts for (at least 1)."""
        if not record.value:
            dead.append(self._dead(record, None, "empty", EMPTY_MESSAGE))
            return 1
        if self._format == "ndjson":
            items: list[Any] = []
            for line in record.value.split(b"\n"):
                if line.strip():
                    items.append(loads_or_error(line))
            return self._collect(record, items, events, origins, dead, indexed=True)
        payload = loads_or_error(record.value)
        if self._format == "json_array" and isinstance(payload, list):
            return self._collect(record, payload, events, origins, dead, indexed=True)
        if self._format == "json_array" and not isinstance(payload, JsonError):
            dead.append(self._dead(record, None, "not_an_array",
                                   f"a batched source expects a JSON array, got {json_kind(payload)}"))
            return 1
        return self._collect(record, [payload], events, origins, dead, indexed=False)

    def _collect(self, record: RawRecord, items: list[Any], events: list[dict[str, Any]],
                 origins: list[tuple[RawRecord, int | None]], dead: list[DeadLetter], indexed: bool) -> int:
        if not items:
            dead.append(self._dead(record, None, "empty", "the batched message holds no events"))
            return 1
        if set(map(type, items)) == {dict}:   # the usual case: no per-item checks
            events.extend(items)
            origins.extend(zip(repeat(record), range(len(items)) if indexed else repeat(None, len(items))))
            return len(items)
        for i, item in enumerate(items):
            index = i if indexed else None
            if isinstance(item, dict):
                events.append(item)
                origins.append((record, index))
            elif isinstance(item, JsonError):
                dead.append(self._dead(record, index, item.reason, item.message))
            else:
                dead.append(self._dead(record, index, "not_an_object",
                                       f"expected a JSON object, got {json_kind(item)}"))
        return len(items)

    def _dead(self, record: RawRecord, index: int | None, reason: str, message: str) -> DeadLetter:
        return DeadLetter(record, reason, message, self.monitor.name, index)


def _input_order(letter: DeadLetter) -> tuple[int, int, int]:
    return letter.record.partition, letter.record.offset, letter.index or 0
