"""Read a topology YAML file into a `Topology`, reporting every problem as `FILE:LINE: message`.

The file is at most `MAX_BYTES`; `core.topology.yaml_tree` reads its YAML (safe tags only, bounded
depth and alias expansion) with the line of every key, so that pydantic's error locations can be
mapped back to the file.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from stream_guard.core.topology.topology import Topology
from stream_guard.core.topology.yaml_tree import AtKey, Loc, YamlProblem, read_yaml
from stream_guard.errors import TopologyError

MAX_BYTES = 4 * 2**20   # a topology of thousands of features is a few hundred kB
_SHOWN = 60              # characters of a wrong value quoted back


def load_topology(path: str | Path) -> Topology:
    """Load and validate one topology file; raise `TopologyError` listing every problem found."""
    path = Path(path)
    text = _read(path)
    try:
        data, lines = read_yaml(text)
    except YamlProblem as exc:
        raise TopologyError([f"{path}:{exc.line}: {exc.message}"]) from None
    if data is None:
        raise TopologyError([f"{path}:1: the file is empty; a topology starts with `version: 1`"])
    try:
        return Topology.model_validate(data)
    except ValidationError as exc:
        problems = [(_line_of(_loc(e), lines), _describe(path, e, lines)) for e in exc.errors()]
        raise TopologyError([text for _, text in sorted(problems, key=lambda p: p[0])]) from None


def key_lines(path: str | Path) -> dict[Loc, int]:
    """The line of every key in a topology file that loads (`load_topology` keeps none), for findings made
    after loading; empty when the file cannot be read."""
    try:
        return read_yaml(_read(Path(path)))[1]
    except (TopologyError, YamlProblem):
        return {}


def at_key(path: str | Path, lines: dict[Loc, int], loc: Loc, message: str) -> str:
    """`FILE:LINE: message`, at the line of the key at `loc` (or of the nearest key above it)."""
    return f"{path}:{_line_of(loc, lines)}: {message}"


def warning_at(path: str | Path, lines: dict[Loc, int], loc: Loc, message: str) -> str:
    """`FILE:LINE: warning: KEY: message`, at the line of the key at `loc`."""
    return at_key(path, lines, loc, f"warning: {_dotted(loc)}: {message}")


def with_overrides(topology: Topology, broker: str | None = None, redis: str | None = None) -> Topology:
    """Apply `--broker` / `--redis` flags, else `SG_BROKER` / `SG_REDIS`, over the file's URLs."""
    broker = broker or os.environ.get("SG_BROKER")
    redis = redis or os.environ.get("SG_REDIS")
    if broker:
        topology = topology.model_copy(update={"kafka": topology.kafka.model_copy(update={"broker": broker})})
    if redis:
        topology = topology.model_copy(update={"redis": topology.redis.model_copy(update={"url": redis})})
    return topology


def _read(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
            if len(raw) > MAX_BYTES:
                size = max(path.stat().st_size, len(raw))
                raise TopologyError([f"{path}:1: the file is {size / 2**20:.1f} MB; a topology file may be at most "
                                     f"{MAX_BYTES // 2**20} MB (a topology of thousands of features is a few "
                                     "hundred kB)"])
    except OSError as exc:
        raise TopologyError([f"{path}: cannot read the topology file: {exc.strerror or exc}"]) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TopologyError([f"{path}:1: the file is not UTF-8 text"]) from None


def _loc(err: Any) -> Loc:
    """Where an error lies: pydantic's location, and below it the key a validator named (`AtKey`)."""
    cause = (err.get("ctx") or {}).get("error")
    return tuple(err["loc"]) + (cause.key if isinstance(cause, AtKey) else ())


def _describe(path: Path, err: Any, lines: dict[Loc, int]) -> str:
    loc = _loc(err)
    line = _line_of(loc, lines)
    where = _dotted(loc)
    if err["type"] == "extra_forbidden":
        return f"{path}:{line}: unknown key {where}{_suggestion(loc)}"
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "missing":
        return f"{path}:{line}: {where} is required but missing"
    given = err.get("input")
    quiet = isinstance(given, (dict, list)) or err["type"].startswith("value_error")
    shown = "" if quiet else f" (got {_shown(given)})"
    return f"{path}:{line}: {where}: {message}{shown}" if where else f"{path}:{line}: {message}"


def _shown(value: Any) -> str:
    """`value` as quoted back in a message: its repr, cut short if long."""
    text = repr(value)
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN - 5]}… ({len(text):,} characters)"


def _line_of(loc: Loc, lines: dict[Loc, int]) -> int:
    # pydantic inserts union/function tags into locations; keep only the parts that exist in the file
    known: Loc = ()
    for part in loc:
        if known + (part,) in lines:
            known = known + (part,)
    return lines.get(known, 1)


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _suggestion(loc: Loc) -> str:
    allowed = _allowed_keys(loc[:-1])
    if not allowed:
        return ""
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{hint} (allowed here: {', '.join(sorted(allowed))})"


def _allowed_keys(parent: Loc) -> list[str]:
    """The field names of the model found at `parent` inside a Topology, if it is a model."""
    model: Any = Topology
    for part in parent:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            # dict values (features.<name>) have no field named after the key
            continue
        model = _model_in(field.annotation)
        if model is None:
            return []
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return []
    return [field.alias or name for name, field in model.model_fields.items()]


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
