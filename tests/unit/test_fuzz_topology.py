"""Fuzzed topology files: whatever the text, `load_topology` returns a topology or raises `TopologyError`
whose every problem reads `FILE:LINE: message` (FILE alone for a file that cannot be read as text).

Texts are drawn as arbitrary strings, as YAML of any shape, and as the shipped topologies with a line
deleted, doubled, cut or given another value, or with text inserted anywhere.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream_guard.core.topology.file import load_topology
from stream_guard.core.topology.topology import Topology
from stream_guard.errors import TopologyError

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "topologies").glob("*.yaml"))
EXAMPLES = int(os.environ.get("SG_FUZZ_EXAMPLES", "150"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
                    st.sampled_from(["5m", "0s", "-1s", "1h30m", "psi", "rolling", "kafka://x:1", "*a", "&a x",
                                     "!!python/object:os.system", "{", "[", "'", '"', "~", "2027-01-15T08:00:00Z"]))
yaml_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.sampled_from(["version", "app", "monitors", "name", "source", "topic", "timestamp",
                                     "window", "size", "features", "type", "checks", "reference", "kind",
                                     "redis", "kafka", "format", "segment_by", "rules", "x"]), inner, max_size=5)),
    max_leaves=20)


@st.composite
def texts(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["text", "yaml", "mutated", "mutated", "mutated"]))
    if kind == "text":
        return draw(st.text(max_size=200))
    if kind == "yaml":
        return yaml.safe_dump(draw(yaml_values), allow_unicode=True)
    lines = draw(st.sampled_from(SHIPPED)).read_text().splitlines()
    for _ in range(draw(st.integers(1, 3))):
        lines = mutate(draw, lines)
    return "\n".join(lines) + "\n"


def mutate(draw: st.DrawFn, lines: list[str]) -> list[str]:
    at = draw(st.integers(0, max(len(lines) - 1, 0)))
    how = draw(st.sampled_from(["delete", "double", "cut", "value", "insert"]))
    line = lines[at] if lines else ""
    if how == "delete":
        return lines[:at] + lines[at + 1:]
    if how == "double":
        return lines[:at + 1] + [line] + lines[at + 1:]
    if how == "cut":
        return lines[:at] + [line[:draw(st.integers(0, len(line)))]] + lines[at + 1:]
    if how == "value" and ":" in line:
        key = line.split(":", 1)[0]
        return lines[:at] + [f"{key}: {yaml.safe_dump(draw(scalars)).splitlines()[0]}"] + lines[at + 1:]
    return lines[:at] + [draw(st.text(max_size=30))] + lines[at:]


@pytest.fixture(scope="module")
def path() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory) / "fuzzed.yaml"


@SETTINGS
@given(text=texts())
def test_a_fuzzed_topology_loads_or_says_file_and_line_of_each_problem(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        assert isinstance(load_topology(path), Topology)
    except TopologyError as error:
        assert error.problems
        for problem in error.problems:
            assert re.match(rf"{re.escape(str(path))}(:\d+)?: \S", problem), problem


@pytest.mark.parametrize("text", [
    "[" * 5000 + "]" * 5000,
    "a: " + "[" * 5000,
    "{a: " * 3000 + "1" + "}" * 3000,
    "- " * 3000 + "x",
    "version: 1\napp: a\nmonitors: " + "&a [" * 50,
])
def test_deeply_nested_yaml_is_a_topology_error_not_a_crash(path: Path, text: str) -> None:
    path.write_text(text)
    with pytest.raises(TopologyError):
        load_topology(path)


def test_a_control_character_is_named_with_its_line(path: Path) -> None:
    path.write_text("version: 1\napp: a\x1f\n")
    with pytest.raises(TopologyError) as caught:
        load_topology(path)
    assert caught.value.problems == [f"{path}:2: invalid YAML: the control character U+001F is not allowed; delete it"]
