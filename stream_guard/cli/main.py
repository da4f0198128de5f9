"""The `stream-guard` command line. Exit codes: 0 ok, 1 a service or run failed, 2 bad input or usage.

Each group of commands is a module beside this one: `offline` (validate, replay, calibrate),
`references`, `history`, `services` (worker, local up, demo) and `topics` (produce, alerts tail, forward).
"""

from __future__ import annotations

import argparse
import sys

from stream_guard.cli.history import history_parser
from stream_guard.cli.init import init_parser
from stream_guard.cli.offline import calibrate_parser, replay_parser, validate_parser
from stream_guard.cli.references import reference_parser
from stream_guard.cli.services import demo_parser, local_parser, worker_parser
from stream_guard.cli.topics import alerts_parser, forward_parser, produce_parser
from stream_guard.errors import StreamGuardError, TopologyError

EPILOG = """\
examples:
  stream-guard demo --seconds 90                  see it work: broker, Redis, worker, faults, alerts
  stream-guard validate topologies/*.yaml          check topology files (FILE:LINE: message per error)
  stream-guard init --from-registry fraud.features-value --schema-registry http://127.0.0.1:8081
  stream-guard replay topologies/demo.yaml events.jsonl --alerts-out alerts.jsonl
  stream-guard local up --topology topologies/demo.yaml   a broker (with the topology's topics) and a Redis
  stream-guard worker topologies/demo.yaml --broker kafka://127.0.0.1:9092 --redis redis://127.0.0.1:6379/0
  stream-guard alerts tail topologies/demo.yaml --no-digests
  stream-guard forward topologies/demo.yaml --alertmanager http://alertmanager:9093
  stream-guard calibrate topologies/demo.yaml clean.jsonl     thresholds from clean history, as YAML
  stream-guard reference build topologies/demo.yaml train.parquet --name train-v1
  stream-guard history topologies/demo.yaml --feature amount   recent check values as sparklines

--broker / --redis override the topology file; so do SG_BROKER / SG_REDIS when the flags are absent.
"""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args))
    except TopologyError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    except StreamGuardError as exc:
        print(f"stream-guard: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stream-guard", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Streaming data-quality and drift monitor: feature events on Kafka in, graded alerts out.")
    parser.add_argument("--version", action="version", version=f"stream-guard {_version()}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    init_parser(commands)
    validate_parser(commands)
    replay_parser(commands)
    calibrate_parser(commands)
    reference_parser(commands)
    history_parser(commands)
    worker_parser(commands)
    local_parser(commands)
    demo_parser(commands)
    produce_parser(commands)
    alerts_parser(commands)
    forward_parser(commands)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("stream-guard")
    except PackageNotFoundError:
        return "unknown"
