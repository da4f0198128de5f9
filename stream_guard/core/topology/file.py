"""Read a topology YAML file into a `Topology`, reporting every problem as `FILE:LINE: message`.

YAML is parsed with the safe loader only (no tags that build objects); the node tree keeps the
line of every key so that pydantic's error locations can be mapped back to the file.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from stream_guard.core.topology.topology import Topology
from stream_guard.errors import TopologyError

Loc = tuple[str | int, ...]
MAX_NODES = 100_000  # YAML aliases can expand a small file into billions of nodes
_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


def load_topology(path: str | Path) -> Topology:
    """Load and validate one topology file; raise `TopologyError` listing every problem found."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TopologyError([f"{path}: cannot read the topology file: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError:
        raise TopologyError([f"{path}:1: the file is not UTF-8 text"]) from None
    data, lines = _parse_yaml(text, path)
    try:
        return Topology.model_validate(data)
    except ValidationError as exc:
        problems = [(_line_of(tuple(e["loc"]), lines), _describe(path, e, lines)) for e in exc.errors()]
        raise TopologyError([text for _, text in sorted(problems, key=lambda p: p[0])]) from None


def with_overrides(topology: Topology, broker: str | None = None, redis: str | None = None) -> Topology:
    """Apply `--broker` / `--redis` flags, else `SG_BROKER` / `SG_REDIS`, over the file's URLs."""
    broker = broker or os.environ.get("SG_BROKER")
    redis = redis or os.environ.get("SG_REDIS")
    if broker:
        topology = topology.model_copy(update={"kafka": topology.kafka.model_copy(update={"broker": broker})})
    if redis:
        topology = topology.model_copy(update={"redis": topology.redis.model_copy(update={"url": redis})})
    return topology


def _parse_yaml(text: str, path: Path) -> tuple[Any, dict[Loc, int]]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        if root is None:
            raise TopologyError([f"{path}:1: the file is empty; a topology starts with `version: 1`"])
        lines: dict[Loc, int] = {}
        return _build(root, (), lines, path, [MAX_NODES]), lines
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise TopologyError([f"{path}:{line}: invalid YAML: {exc.problem}"]) from None
    except yaml.reader.ReaderError as exc:   # a control character: YAML allows none outside quotes
        line = text.count("\n", 0, exc.position) + 1
        raise TopologyError([f"{path}:{line}: invalid YAML: the control character U+{exc.character:04X} is "
                             f"not allowed; delete it"]) from None
    except RecursionError:
        raise TopologyError([f"{path}:1: the document nests lists or mappings too deeply to read; "
                             f"a topology is a few levels deep"]) from None


def _build(node: yaml.Node, loc: Loc, lines: dict[Loc, int], path: Path, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise TopologyError([f"{path}:{node.start_mark.line + 1}: the document expands to more than "
                             f"{MAX_NODES} values (YAML alias bomb?); write it out plainly"])
    lines.setdefault(loc, node.start_mark.line + 1)
    if not isinstance(node, yaml.ScalarNode) and node.tag not in _PLAIN_TAGS:
        raise TopologyError([f"{path}:{node.start_mark.line + 1}: the YAML tag {node.tag} is not allowed; "
                             "a topology holds plain mappings, lists and values"])
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node, path)
            if key in out:
                raise TopologyError([f"{path}:{key_node.start_mark.line + 1}: key {key!r} appears twice"])
            lines[loc + (key,)] = key_node.start_mark.line + 1
            out[key] = _build(value_node, loc + (key,), lines, path, budget)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, loc + (i,), lines, path, budget) for i, item in enumerate(node.value)]
    return _scalar(node, path)


def _scalar(node: yaml.Node, path: Path) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise TopologyError([f"{path}:{node.start_mark.line + 1}: a key must be plain text"])
    try:
        return yaml.SafeLoader(node.value).construct_object(node)
    except yaml.constructor.ConstructorError as exc:
        raise TopologyError([f"{path}:{node.start_mark.line + 1}: {exc.problem}"]) from None


def _describe(path: Path, err: Any, lines: dict[Loc, int]) -> str:
    loc: Loc = tuple(err["loc"])
    line = _line_of(loc, lines)
    where = _dotted(loc)
    if err["type"] == "extra_forbidden":
        return f"{path}:{line}: unknown key {where}{_suggestion(loc)}"
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "missing":
        return f"{path}:{line}: {where} is required but missing"
    given = err.get("input")
    shown = "" if isinstance(given, (dict, list)) or err["type"].startswith("value_error") else f" (got {given!r})"
    return f"{path}:{line}: {where}: {message}{shown}" if where else f"{path}:{line}: {message}"


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
