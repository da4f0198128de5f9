"""Rows for snapshot references from files: JSON Lines (optionally gzipped), CSV and Parquet.

Rows come out as events a monitor can read: a column is matched to a feature by the feature's field
path (`features.amount`) or, for flat training files, by the feature's name (`amount`), and dotted
column names become nested objects. CSV cells of numeric features are parsed as numbers (an empty
cell is missing); every other cell stays text, as it would arrive in a JSON event.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from stream_guard.core.topology.features import kind
from stream_guard.core.topology.monitor import MonitorSpec
from stream_guard.errors import StreamGuardError

CHUNK = 5000
FORMATS = (".jsonl", ".jsonl.gz", ".ndjson", ".csv", ".parquet")


@dataclass
class ReadReport:
    """Rows read and rows skipped (with the first few line numbers and reasons), for the user."""

    rows: int = 0
    skipped: int = 0
    examples: list[str] = field(default_factory=list)

    def skip(self, where: str, reason: str) -> None:
        self.skipped += 1
        if len(self.examples) < 5:
            self.examples.append(f"{where}: {reason}")


def file_format(path: Path) -> str:
    name = path.name.lower()
    for suffix in FORMATS:
        if name.endswith(suffix):
            return suffix
    raise StreamGuardError(f"{path}: unknown file type; reference files are {', '.join(FORMATS)}")


def read_rows(path: Path, monitor: MonitorSpec, report: ReadReport,
              chunk: int = CHUNK) -> Iterator[list[dict[str, Any]]]:
    """The file's rows in chunks; lines that are no JSON object are skipped and reported."""
    if not path.is_file():
        raise StreamGuardError(f"{path}: no such file")
    kind = file_format(path)
    if kind == ".csv":
        yield from _csv_rows(path, monitor, report, chunk)
    elif kind == ".parquet":
        yield from _parquet_rows(path, monitor, report, chunk)
    else:
        yield from _json_rows(path, report, chunk)


def _json_rows(path: Path, report: ReadReport, chunk: int) -> Iterator[list[dict[str, Any]]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    batch: list[dict[str, Any]] = []
    with opener(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                report.skip(f"line {number}", f"not valid JSON ({exc})")
                continue
            if not isinstance(row, dict):
                report.skip(f"line {number}", "not a JSON object")
                continue
            batch.append(row)
            report.rows += 1
            if len(batch) >= chunk:
                yield batch
                batch = []
    if batch:
        yield batch


def _renames(columns: list[str], monitor: MonitorSpec) -> dict[str, str]:
    """Column -> field path, for columns named after a feature rather than its path."""
    out = {}
    for name, spec in monitor.all_features().items():
        path = spec.field or name
        if path not in columns and name in columns:
            out[name] = path
    return out


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split(".")
        node = row
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node[parts[-1]] = value
    return row


def _csv_rows(path: Path, monitor: MonitorSpec, report: ReadReport, chunk: int) -> Iterator[list[dict[str, Any]]]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = list(reader.fieldnames or [])
        renames = _renames(columns, monitor)
        numeric = {spec.field or name for name, spec in monitor.all_features().items() if kind(spec) == "numeric"}
        batch: list[dict[str, Any]] = []
        for number, raw in enumerate(reader, start=2):
            if None in raw:
                report.skip(f"line {number}", "more cells than the header has columns")
                continue
            flat = {renames.get(k, k): v for k, v in raw.items()}
            for key in numeric & flat.keys():
                flat[key] = _number(flat[key])
            batch.append(_nest(flat))
            report.rows += 1
            if len(batch) >= chunk:
                yield batch
                batch = []
        if batch:
            yield batch


def _number(cell: Any) -> Any:
    if cell is None or cell == "":
        return None
    try:
        value = float(cell)
    except ValueError:
        return cell   # counted as an invalid value of the feature, like a string in a JSON event
    return int(value) if value.is_integer() and "." not in cell and "e" not in cell.lower() else value


def _parquet_rows(path: Path, monitor: MonitorSpec, report: ReadReport, chunk: int) -> Iterator[list[dict[str, Any]]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise StreamGuardError("reading Parquet needs pyarrow: pip install 'stream-guard[parquet]'") from None
    parquet = pq.ParquetFile(path)
    renames = _renames(parquet.schema_arrow.names, monitor)
    for batch in parquet.iter_batches(batch_size=chunk):
        rows = [_nest({renames.get(k, k): v for k, v in row.items()}) for row in batch.to_pylist()]
        report.rows += len(rows)
        yield rows
