"""Coverage-guided fuzzing (atheris, libFuzzer) of the topology loader: any bytes load as a topology or
raise `TopologyError` whose problems read `FILE:LINE: message`. Run from the repository root:

    .venv/bin/pip install atheris
    .venv/bin/python -m tests.fuzz.fuzz_topology tests/fuzz/corpus/topology -max_total_time=600 -max_len=4096
"""

from __future__ import annotations

import functools
import re
import sys
import tempfile
from pathlib import Path

from stream_guard.core.topology.file import load_topology
from stream_guard.errors import TopologyError


@functools.cache
def _file() -> tuple[Path, re.Pattern[str]]:
    """Where inputs are written (made on first use, not on import), and what a problem about it reads like."""
    path = Path(tempfile.mkdtemp(prefix="sg-fuzz-")) / "fuzzed.yaml"
    return path, re.compile(rf"{re.escape(str(path))}(:\d+)?: \S")


def check(data: bytes) -> None:
    path, problem = _file()
    path.write_bytes(data)
    try:
        load_topology(path)
    except TopologyError as error:
        assert error.problems and all(problem.match(p) for p in error.problems), error.problems


def main() -> None:
    import atheris

    atheris.instrument_all()   # coverage of the Python code, which libFuzzer steers by
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
