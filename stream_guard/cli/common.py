"""What the `stream-guard` commands share: registering a command, the service flags, choosing a monitor,
and talking to Redis."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from stream_guard.errors import StreamGuardError


def command(commands: Any, name: str, help_: str, run: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
    sub: argparse.ArgumentParser = commands.add_parser(name, help=help_, description=help_)
    sub.set_defaults(run=run)
    return sub


def service_flags(sub: argparse.ArgumentParser, redis: bool = True) -> None:
    sub.add_argument("--broker", metavar="URL", help="Kafka bootstrap URL, e.g. kafka://127.0.0.1:9092 (env SG_BROKER)")
    if redis:
        sub.add_argument("--redis", metavar="URL", help="Redis URL, e.g. redis://127.0.0.1:6379/0 (env SG_REDIS)")


def registry_flag(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--schema-registry", metavar="URL",
                     help="Schema Registry URL for avro / protobuf / json_schema sources, e.g. http://127.0.0.1:8081 "
                          "(env SG_SCHEMA_REGISTRY)")


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """`n` and the noun, singular for one: `1 monitor`, `2 monitors`, `1,200 windows`.

    >>> counted(1, "monitor"), counted(0, "feature"), counted(2, "window digest"), counted(3, "entry", "entries")
    ('1 monitor', '0 features', '2 window digests', '3 entries')
    """
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def one_monitor(topology: Any, name: str | None) -> Any:
    if name:
        try:
            return topology.monitor(name)
        except KeyError as exc:
            raise StreamGuardError(str(exc.args[0])) from None
    if len(topology.monitors) > 1:
        raise StreamGuardError(f"the topology has {len(topology.monitors)} monitors; choose one with --monitor "
                               f"({', '.join(m.name for m in topology.monitors)})")
    return topology.monitors[0]


def on_redis(state: Any, call: Any) -> Any:
    """Run `call()` (a coroutine function) once Redis answers (else ServiceUnreachable naming the URL),
    closing the connection however it ends."""
    import asyncio

    async def run() -> Any:
        try:
            await state.ping()
            return await call()
        finally:
            await state.close()

    return asyncio.run(run())


def redacted_url(url: str) -> str:
    from stream_guard.adapters.credentials import redacted
    return redacted(url)
