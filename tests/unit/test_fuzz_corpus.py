"""The corpora the coverage-guided fuzzers (tests/fuzz, atheris) kept, replayed through the same checks
on every test run, so what they once reached stays correct without atheris installed."""

from __future__ import annotations

from pathlib import Path

from ..fuzz import fuzz_decoder, fuzz_topology

CORPUS = Path(__file__).resolve().parents[1] / "fuzz" / "corpus"


def test_every_kept_decoder_input_decodes_or_dead_letters_each_event_once() -> None:
    inputs = sorted((CORPUS / "decoder").iterdir())
    assert inputs
    for path in inputs:
        fuzz_decoder.check(path.read_bytes())


def test_every_kept_topology_input_loads_or_says_file_and_line() -> None:
    inputs = sorted((CORPUS / "topology").iterdir())
    assert inputs
    for path in inputs:
        fuzz_topology.check(path.read_bytes())
