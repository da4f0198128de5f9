"""`stream-guard init --from-registry SUBJECT`: a commented starter topology from a subject's latest schema."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from stream_guard.cli.common import command, registry_flag
from stream_guard.core.topology.schema_registry import registry_url
from stream_guard.errors import StreamGuardError


def init_parser(commands: Any) -> None:
    sub = command(commands, "init", "write a starter topology from a Schema Registry subject's latest schema", _init)
    sub.add_argument("--from-registry", required=True, metavar="SUBJECT", help="e.g. fraud.features-value")
    sub.add_argument("--topic", metavar="T", help="the source topic (default: the subject less -value)")
    registry_flag(sub)
    sub.add_argument("--out", type=Path, metavar="F", help="write the YAML to F instead of standard output")


def _init(args: argparse.Namespace) -> int:
    from stream_guard.adapters.schema_registry import RegistryClient
    from stream_guard.offline.starter import starter_topology

    spec = registry_url(args.schema_registry, None)
    if spec is None:
        raise StreamGuardError("init needs the Schema Registry: --schema-registry URL or SG_SCHEMA_REGISTRY")
    subject = args.from_registry

    async def latest() -> Any:
        client = RegistryClient(spec)
        try:
            found = await client.latest(subject)
            if found[2].kind == "PROTOBUF":   # the descriptor, not the .proto text
                found = await client.latest(subject, "serialized")
            return found
        finally:
            await client.close()

    _, version, text = asyncio.run(latest())
    topic = args.topic or subject.removesuffix("-value")
    yaml_text = starter_topology(subject, topic, version, text, spec.url)
    if args.out:
        args.out.write_text(yaml_text)
        print(f"starter topology written to {args.out}; check it with: stream-guard validate {args.out}",
              file=sys.stderr)
    else:
        sys.stdout.write(yaml_text)
    return 0
