"""The root of stream_guard's exceptions; each subsystem raises a subclass with a message a user can act on."""

from __future__ import annotations


class StreamGuardError(Exception):
    """Base class: the message is one human sentence naming the file, field or URL at fault."""


class TopologyError(StreamGuardError):
    """A topology file is unreadable or invalid; `problems` holds one `FILE:LINE: message` per error."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class ServiceUnreachable(StreamGuardError):
    """Kafka or Redis could not be reached at the URL given."""


class NotReplicated(ServiceUnreachable):
    """Redis applied a write but fewer replicas than `redis.wait_replicas` acknowledged it in time: it is
    not yet safe from a failover, so it is written again and no Kafka offset it covers is committed."""


class Fenced(StreamGuardError):
    """Another worker claimed the partition (or the evaluation) since this worker did: its write is refused."""


class StateLost(StreamGuardError):
    """The state store holds no claim where this worker had one: it restarted without its data."""
