"""How far a live worker's label stream has come, per label partition: when a tick may apply labels.

A tick at event time `t` applies the labels timed before `t`, so it must wait until every label timed
before `t` has been read. Each label partition is read in its own order, so the rule is per partition,
as the source's watermark is: an assigned partition has passed `t` when it has read a label timed at
`t + grace` or later (labels out of order by less than `grace` are then all in), or when it has been
silent for `idle` with nothing unread on it as its last fetch said. Silence counts from the partition's
last batch, and never from before the worker read the join back (a worker that took long to start has
not been waiting for labels meanwhile).

>>> progress = LabelProgress(grace=5_000, idle=10_000, since=0)
>>> progress.heard(0, now=1_000, newest=70_000); progress.heard(1, now=1_000, newest=64_000)
>>> progress.passed(65_000, now=2_000, partitions={0, 1}, unread=lambda p: False)
False
>>> progress.passed(65_000, now=11_000, partitions={0, 1}, unread=lambda p: False)   # 1 went quiet
True
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


@dataclass
class LabelProgress:
    grace: int                    # ms: how far out of order labels may come within a partition
    idle: int                     # ms of wall clock: a partition silent this long holds no tick back
    since: int                    # wall clock from which silence counts
    newest: dict[int, int] = field(default_factory=dict)      # partition -> newest label time read
    heard_at: dict[int, int] = field(default_factory=dict)    # partition -> wall clock of its last batch

    def restart(self, now: int) -> None:
        """The worker (re)read the join: silence counts from `now`."""
        self.since = now

    def heard(self, partition: int, now: int, newest: int | None) -> None:
        """A batch of `partition` was read at `now`; `newest` its newest usable label time (None: none)."""
        self.heard_at[partition] = now
        if newest is not None:
            self.newest[partition] = max(newest, self.newest.get(partition, newest))

    def passed(self, time: int, now: int, partitions: Iterable[int], unread: Callable[[int], bool]) -> bool:
        """Whether every label timed before `time` has been read from the assigned `partitions`
        (`unread(p)`: partition p's log holds records not read yet). With none assigned, after `idle`."""
        assigned = list(partitions)
        if not assigned:
            return now - self.since >= self.idle
        return all(self._passed(p, time, now, unread) for p in assigned)

    def _passed(self, partition: int, time: int, now: int, unread: Callable[[int], bool]) -> bool:
        newest = self.newest.get(partition)
        if newest is not None and newest - self.grace >= time:
            return True
        quiet_since = max(self.heard_at.get(partition, self.since), self.since)
        return now - quiet_since >= self.idle and not unread(partition)
