"""YAML text to plain values (dicts, lists, scalars) and the line of every key, within a topology's limits.

Only the safe loader's plain mappings, lists and scalars are read (no tags that build objects). Merge
keys (`<<: *defaults`) copy a mapping's keys, and keys written beside them win, as YAML 1.1 says.
Nothing a file can hold makes the reader recurse without bound or expand without bound: nesting is
refused past `MAX_DEPTH` levels (before the document is composed, so deep text never reaches the
recursive composer), a recursive alias (`x: &r [*r]`) is refused, and aliases may expand to at most
`MAX_EXPANDED` values in all (an alias bomb); a plain file of any size allowed is never taken for one.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import yaml

Loc = tuple[str | int, ...]
MAX_DEPTH = 32             # a topology nests about 7 levels deep
MAX_EXPANDED = 100_000     # values that aliases may add to the document, in all
MERGE_TAG = "tag:yaml.org,2002:merge"
STR_TAG = "tag:yaml.org,2002:str"
_YAML_SYMBOLS = (MERGE_TAG, "tag:yaml.org,2002:value")   # `<<` and `=` written as values
_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
_COLLECTION_TAGS = (*_PLAIN_TAGS, *(f"tag:yaml.org,2002:{kind}" for kind in ("set", "omap", "pairs")))
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)   # libyaml when present: ten times faster
_OPENS = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSES = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


class AtKey(ValueError):
    """A validator's finding about a key below the model it validates: `key` is that key's path from the
    model (`("rules", 2)`), so the file reports that key's line rather than the model's first one."""

    def __init__(self, key: Loc, message: str) -> None:
        super().__init__(message)
        self.key = key


class YamlProblem(ValueError):
    """What is wrong with the text, at a line (1-based)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def read_yaml(text: str) -> tuple[Any, dict[Loc, int]]:
    """The document's value (None when empty) and the line of each key's location; YamlProblem if it
    is no YAML or breaks a limit."""
    with _no_cycle_collection():   # reading allocates objects by the million; collecting cycles then is quadratic
        root = _compose(text)
        if root is None:
            return None, {}
        tree = _Tree()
        return tree.build(root, (), 0, False), tree.lines


def _compose(text: str) -> yaml.Node | None:
    try:
        _check_depth(text)
        return yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        context = f"{exc.context}, " if exc.context else ""
        raise YamlProblem(mark.line + 1 if mark else 1, f"invalid YAML: {context}{exc.problem}") from None
    except yaml.reader.ReaderError as exc:   # a control character: YAML allows none outside quotes
        line = text.count("\n", 0, exc.position) + 1
        raise YamlProblem(line, f"invalid YAML: the control character U+{exc.character:04X} is not allowed; "
                                "delete it") from None


def _check_depth(text: str) -> None:
    depth = 0
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, _OPENS):
            depth += 1
            if depth > MAX_DEPTH:
                raise YamlProblem(event.start_mark.line + 1, _too_deep())
        elif isinstance(event, _CLOSES):
            depth -= 1


def _too_deep() -> str:
    return (f"the document nests more than {MAX_DEPTH} levels deep; a topology needs at most {MAX_DEPTH} "
            "(its own structure is about 7)")


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Tree:
    """Builds plain values from composed nodes, recording each key's line and counting alias expansions."""

    def __init__(self) -> None:
        self.lines: dict[Loc, int] = {}
        self._built: set[int] = set()      # collections built once: meeting one again is an alias
        self._open: set[int] = set()       # collections being built: meeting one of them is a cycle
        self._expanded = 0
        self._constructor = yaml.constructor.SafeConstructor()

    def build(self, node: yaml.Node, loc: Loc, depth: int, expanding: bool) -> Any:
        line = node.start_mark.line + 1
        self.lines.setdefault(loc, line)
        if isinstance(node, yaml.ScalarNode):
            self._count(expanding, line)
            return self._scalar(node)
        if node.tag not in _PLAIN_TAGS:
            raise YamlProblem(line, _tag_refused(node.tag))
        if id(node) in self._open:
            raise YamlProblem(line, "an alias here refers to the collection it is part of (a recursive alias), "
                                    "which would never end; a topology holds no cycles")
        if depth >= MAX_DEPTH:
            raise YamlProblem(line, _too_deep())
        expanding = expanding or id(node) in self._built
        self._count(expanding, line)
        self._open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, loc, depth + 1, expanding)
            return [self.build(item, loc + (i,), depth + 1, expanding) for i, item in enumerate(node.value)]
        finally:
            self._open.discard(id(node))
            self._built.add(id(node))

    def _count(self, expanding: bool, line: int) -> None:
        if expanding:
            self._expanded += 1
            if self._expanded > MAX_EXPANDED:
                raise YamlProblem(line, f"the document expands to more than {MAX_EXPANDED} values through its "
                                        "aliases (a YAML alias bomb?); write it out plainly or use fewer aliases")

    def _mapping(self, node: yaml.MappingNode, loc: Loc, depth: int, expanding: bool) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        merges = []
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                merges.append(value_node)
                continue
            key = self._key(key_node)
            if key in out:
                raise YamlProblem(key_node.start_mark.line + 1, f"key {key!r} appears twice")
            self.lines.setdefault(loc + (key,), key_node.start_mark.line + 1)   # merged keys come later
            out[key] = self.build(value_node, loc + (key,), depth, expanding)
        merged: dict[Any, Any] = {}
        for source in (s for value_node in merges for s in _merge_sources(value_node)):
            for key, value in self.build(source, loc, depth - 1, expanding).items():
                if key not in out and key not in merged:
                    merged[key] = value
        return {**merged, **out} if merged else out

    def _key(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise YamlProblem(node.start_mark.line + 1, "a key must be plain text")
        return self._scalar(node)

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        if node.tag == STR_TAG:
            return node.value
        line = node.start_mark.line + 1
        if node.tag in _YAML_SYMBOLS:
            raise YamlProblem(line, f"{node.value!r} means something to YAML here; quote it if it is text")
        if node.tag not in yaml.constructor.SafeConstructor.yaml_constructors or node.tag in _COLLECTION_TAGS:
            raise YamlProblem(line, _tag_refused(node.tag))
        try:
            return self._constructor.construct_object(node)
        except yaml.constructor.ConstructorError as exc:
            raise YamlProblem(line, f"{node.value!r} cannot be read: {exc.problem}") from None
        except (ValueError, TypeError, AttributeError):   # what PyYAML's constructors raise on `!!int abc` and the like
            raise YamlProblem(line, f"{node.value!r} is no {node.tag.rsplit(':', 1)[-1]}") from None


def _tag_refused(tag: str) -> str:
    return f"the YAML tag {tag} is not allowed; a topology holds plain mappings, lists and values"


def _merge_sources(node: yaml.Node) -> list[yaml.Node]:
    """The mappings a merge key copies, first one first (an earlier one's keys win)."""
    if isinstance(node, yaml.MappingNode):
        return [node]
    if isinstance(node, yaml.SequenceNode) and node.value and all(
            isinstance(item, yaml.MappingNode) for item in node.value):
        return list(node.value)
    raise YamlProblem(node.start_mark.line + 1, "a merge key (<<) takes a mapping or a list of mappings, "
                                                "such as <<: *defaults")
